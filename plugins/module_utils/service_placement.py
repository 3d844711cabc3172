# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Which replicated services cannot run their replicas elsewhere while some nodes are drained.

A rolling upgrade drains every node in turn (workers a batch at a time). A replicated service
whose placement pins it to that node (its hostname or ID, or labels only that node has), or
whose ``max_replicas`` per node leaves too few places on the other eligible nodes, cannot be
rescheduled: its tasks stop for as long as the node is drained, and a drain that waits for them
never finishes. The upgrade plan names such services before anything is drained.

Global services are left out: their task on a drained node simply stops, which is their design.
Constraints are matched as the Swarm scheduler matches them: ``==`` and ``!=``, values compared
without regard to case, a label the node lacks matching ``!=`` only. Resource reservations and
platform requirements of the image are not considered (the plan cannot see free memory).

Pure, no I/O, Python 3.9 syntax.
"""

from __future__ import annotations

ELIGIBLE_STATE = "ready"
ELIGIBLE_AVAILABILITY = "active"


def parse_constraint(text: str) -> tuple:
    """(key, operator, value) of a constraint such as ``node.labels.zone == a``."""
    for operator in ("==", "!="):
        if operator in str(text):
            key, _, value = str(text).partition(operator)
            if key.strip() and value.strip():
                return key.strip(), operator, value.strip()
    raise ValueError(f"not a placement constraint (key==value or key!=value): {text!r}")


def _node_value(node: dict, key: str):
    """The node's value for a constraint key; None when it has none."""
    spec = node.get("Spec") or {}
    description = node.get("Description") or {}
    lowered = key.lower()
    if lowered == "node.id":
        return node.get("ID")
    if lowered == "node.hostname":
        return description.get("Hostname")
    if lowered == "node.role":
        return spec.get("Role")
    if lowered == "node.platform.os":
        return (description.get("Platform") or {}).get("OS")
    if lowered == "node.platform.arch":
        return (description.get("Platform") or {}).get("Architecture")
    if lowered.startswith("node.labels."):
        return (spec.get("Labels") or {}).get(key[len("node.labels.") :])
    if lowered.startswith("engine.labels."):
        return ((description.get("Engine") or {}).get("Labels") or {}).get(key[len("engine.labels.") :])
    return _UNKNOWN


_UNKNOWN = object()


def node_matches(node: dict, constraints) -> bool:
    """Whether the node satisfies every constraint (a key flotilla does not know matches)."""
    for constraint in constraints or []:
        key, operator, wanted = parse_constraint(constraint)
        value = _node_value(node, key)
        if value is _UNKNOWN:
            continue
        equal = value is not None and str(value).lower() == wanted.lower()
        if equal != (operator == "=="):
            return False
    return True


def eligible(node: dict) -> bool:
    """A node the scheduler places new tasks on: ready and active."""
    return (node.get("Status") or {}).get("State") == ELIGIBLE_STATE and (node.get("Spec") or {}).get(
        "Availability", ELIGIBLE_AVAILABILITY
    ) == ELIGIBLE_AVAILABILITY


def placeable(replicas: int, max_replicas: int, nodes: int) -> int:
    """How many of ``replicas`` the scheduler can place on ``nodes`` eligible nodes."""
    if nodes <= 0:
        return 0
    if max_replicas and max_replicas > 0:
        return min(replicas, max_replicas * nodes)
    return replicas


def _placement(service: dict) -> tuple:
    spec = service.get("Spec") or {}
    placement = (spec.get("TaskTemplate") or {}).get("Placement") or {}
    replicas = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas")
    return (
        spec.get("Name") or service.get("ID", ""),
        replicas,
        list(placement.get("Constraints") or []),
        int(placement.get("MaxReplicas") or 0),
    )


def unmovable_services(services, engine_nodes, drained_sets) -> list:
    """Every replicated service that loses replicas while one of ``drained_sets`` is drained.

    ``drained_sets`` is a list of (label, [node IDs drained together]) - one per upgrade batch.
    Returns one entry per service: {service, replicas, max_replicas, constraints, batches: [{label,
    placeable}], reason}. A service already short before any drain counts only for what a drain
    takes away from it.
    """
    out = []
    nodes = list(engine_nodes or [])
    for service in services or []:
        name, replicas, constraints, max_replicas = _placement(service)
        if replicas is None or int(replicas) <= 0:
            continue  # global services, jobs, and services scaled to zero
        replicas = int(replicas)
        candidates = [n for n in nodes if eligible(n) and node_matches(n, constraints)]
        before = placeable(replicas, max_replicas, len(candidates))
        hit = []
        for label, drained in drained_sets:
            drained = set(drained)
            left = [n for n in candidates if n.get("ID") not in drained]
            now = placeable(replicas, max_replicas, len(left))
            if now < before:
                hit.append({"label": label, "placeable": now, "other_nodes": len(left)})
        if not hit:
            continue
        out.append(
            {
                "service": name,
                "replicas": replicas,
                "max_replicas": max_replicas,
                "constraints": constraints,
                "batches": hit,
                "reason": _reason(name, replicas, max_replicas, constraints, hit),
            }
        )
    return out


def _reason(name, replicas, max_replicas, constraints, hit) -> str:
    where = ", ".join(h["label"] for h in hit)
    worst = min(hit, key=lambda h: h["placeable"])
    if worst["other_nodes"] == 0:
        why = (
            f"its placement constraints ({', '.join(constraints)}) match no other node that takes tasks"
            if constraints
            else "no other node takes tasks"
        )
    else:
        why = (
            f"max_replicas {max_replicas} per node on the {worst['other_nodes']} other eligible node(s) "
            f"leaves room for {worst['placeable']}"
        )
    return (
        f"service {name} ({replicas} replica(s)) cannot run them all while {where} is drained: {why}; "
        f"at worst {worst['placeable']} of {replicas} run"
    )


def add_to_plan(plan: dict, services, engine_nodes, allow: bool) -> dict:
    """Check the planned batches for unmovable services; record them in ``plan`` (in place).

    ``plan["unmovable"]`` lists them; each is an error (the run must not start) unless ``allow``,
    then a warning. Returns the plan.
    """
    by_name = {name: node.get("node_id") for name, node in (plan.get("nodes") or {}).items()}
    drained_sets = [
        (", ".join(batch["nodes"]), [by_name.get(n) for n in batch["nodes"]])
        for batch in plan.get("batches") or []
    ]
    found = unmovable_services(services, engine_nodes, drained_sets)
    plan["unmovable"] = found
    for entry in found:
        if allow:
            plan.setdefault("warnings", []).append(
                entry["reason"] + " (accepted: flotilla_upgrade_allow_unmovable_services is true; the "
                "drain does not wait for it)"
            )
        else:
            plan.setdefault("errors", []).append(
                entry["reason"] + ". Move its placement (or scale it) so that another node can run it, or "
                "accept that its tasks stop while the node is drained with "
                "-e flotilla_upgrade_allow_unmovable_services=true"
            )
    return plan
