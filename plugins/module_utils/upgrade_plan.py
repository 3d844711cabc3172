# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""What a rolling upgrade does to each node, decided before any node changes.

A node needs the rolling path when something would restart its engine or disturb its tasks:

* its running engine is not at the pinned ``docker_version`` (the package may already be on
  disk: an upgrade counts only once the *running* engine reports the release);
* the docker role reports changes it held back on a swarm member (daemon.json, the systemd
  drop-in, TLS material, packages), the ``docker_pending_changes`` it computes on every run;
* OS package updates are requested and some are pending, or a reboot is requested and the host
  says one is required.

Nodes with no reason are skipped, which is what makes a re-run resume after a failure. A node that
already runs the target but was left drained by a stopped run is re-activated, not drained again.
The order is batching.plan_upgrade's: managers one by one with the leader last, then workers in
batches whose size resolves against *all* workers (the size the operator saw in the first plan).

Before each node goes down, :func:`check_step` asks quorum.check_action again with fresh engine
data. Pure: the caller passes engine node objects. Python 3.9 syntax (module_utils run on nodes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ansible_collections.flotilla.cluster.plugins.module_utils.batching import (
    PlanNode,
    parse_batch_size,
    plan_upgrade,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.node_readiness import record_version
from ansible_collections.flotilla.cluster.plugins.module_utils.quorum import (
    ACTION_DOWN,
    check_action,
    manager_from_api,
    quorum_summary,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.versions import (
    parse_engine_version,
    validate_upstream,
    version_reached,
)

ROLES = ("manager", "worker")


class UpgradePlanError(ValueError):
    """The inputs cannot be planned (a caller bug, not a cluster state)."""


@dataclass(frozen=True)
class HostFacts:
    """One inventory host as the playbook probed it.

    ``node_id`` is the swarm node ID its engine reports (empty: not a member); ``running_version``
    what its running engine reports; ``pending_changes`` the docker role's held-back changes;
    ``os_updates`` pending package updates (None: not asked); ``reboot_required`` whether the host
    flags a pending reboot (None: the host cannot tell, e.g. RHEL without needs-restarting);
    ``availability`` what the inventory wants after the upgrade.
    """

    name: str
    role: str
    node_id: str = ""
    running_version: str | None = None
    pending_changes: tuple = ()
    os_updates: int | None = None
    reboot_required: bool | None = False
    availability: str = "active"


def host_facts(item: dict) -> HostFacts:
    """Build :class:`HostFacts` from a module option entry, refusing unknown or missing fields."""
    if not isinstance(item, dict):
        raise UpgradePlanError(f"each host must be a mapping, got {item!r}")
    known = set(HostFacts.__dataclass_fields__)
    unknown = set(item) - known
    if unknown:
        raise UpgradePlanError(f"unknown host field(s) {sorted(unknown)} in {item!r}")
    if not item.get("name") or item.get("role") not in ROLES:
        raise UpgradePlanError(f"each host needs a name and a role (manager or worker), got {item!r}")
    values = dict(item)
    values["pending_changes"] = tuple(values.get("pending_changes") or ())
    values["running_version"] = values.get("running_version") or None
    values["node_id"] = values.get("node_id") or ""
    values["availability"] = values.get("availability") or "active"
    # None is kept: "cannot tell" must not read as "no" (nor, as it once did, as "yes")
    if values.get("reboot_required") is not None:
        values["reboot_required"] = bool(values["reboot_required"])
    return HostFacts(**values)


@dataclass
class NodeDecision:
    name: str
    role: str
    node_id: str
    hostname: str
    leader: bool
    state: str
    availability: str
    version_before: str | None
    decision: str  # upgrade, skip, reactivate, refuse
    reasons: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    restart_expected: bool = False


def _index(engine_nodes) -> dict:
    return {n.get("ID", ""): n for n in engine_nodes or []}


def _availability(node: dict) -> str:
    return (node.get("Spec") or {}).get("Availability", "active")


def _reasons(host: HostFacts, target: str | None, os_packages: bool, reboot: bool):
    """(reasons to roll this node, refusal or None, whether the engine restarts)."""
    reasons, restart = [], False
    if target is not None and host.running_version:
        try:
            reached = version_reached(host.running_version, target)
            newer = parse_engine_version(host.running_version) > parse_engine_version(target)
        except ValueError as exc:
            return [], f"{host.name}: {exc}", False
        if newer:
            return (
                [],
                f"{host.name} runs Docker {host.running_version}, newer than docker_version {target}: "
                "rolling upgrades never downgrade an engine (swarm state is not guaranteed to load in an "
                "older release); raise docker_version or take the node out of the inventory",
                False,
            )
        if not reached:
            reasons.append(f"engine {host.running_version} -> {target}")
            restart = True
    elif target is not None:
        reasons.append(f"engine version unknown -> {target}")
        restart = True
    for change in host.pending_changes:
        if change not in reasons:
            reasons.append(str(change))
            restart = True
    if os_packages and host.os_updates:
        reasons.append(f"{host.os_updates} OS package update(s)")
    if reboot and host.reboot_required is None:
        # Fail closed: guessing "yes" reboots every node on every run, guessing "no" skips reboots
        # that kernel or libc updates need.
        return (
            [],
            f"{host.name} cannot tell whether it needs a reboot (needs-restarting is missing): install "
            "dnf-utils (yum-utils on older releases) on it, or run without flotilla_upgrade_reboot",
            False,
        )
    if reboot and (reasons or host.reboot_required):
        if host.reboot_required:
            reasons.append("the host asks for a reboot")
        restart = True
    return reasons, None, restart


def _actions(reasons, restart, os_packages, reboot, host) -> list:
    actions = ["quorum check"] if host.role == "manager" else []
    actions.append("drain and wait")
    if os_packages and host.os_updates:
        actions.append("upgrade OS packages")
    actions.append("apply the docker role")
    if reboot:
        actions.append("reboot")
    elif restart:
        actions.append("restart the engine")
    actions.append("wait for the running engine and node readiness")
    actions.append(f"set availability {host.availability}")
    return actions


def build_plan(
    hosts,
    engine_nodes,
    target_version: str | None = None,
    batch_size=1,
    os_packages: bool = False,
    reboot: bool = False,
) -> dict:
    """Decide every host's fate and order the work; JSON-ready result.

    Keys: ``nodes`` (per host: decision, reasons, actions, restart_expected, version_before...),
    ``batches`` (as batching.UpgradePlan.as_dict), ``reactivate`` (hosts done but left drained),
    ``errors`` (refusals: the run must not start), ``warnings``, ``quorum``, ``pending``,
    ``worker_batch_size`` and ``lines`` (the human-readable plan).
    """
    target = validate_upstream(target_version) if target_version else None
    facts = [h if isinstance(h, HostFacts) else host_facts(h) for h in hosts]
    names = [h.name for h in facts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UpgradePlanError(f"host(s) listed twice: {', '.join(duplicates)}")

    by_id = _index(engine_nodes)
    managers = [m for m in (manager_from_api(n) for n in engine_nodes or []) if m is not None]
    errors, warnings, decisions = [], [], []
    quorum = asdict(quorum_summary(managers)) if managers else {}
    if not managers:
        errors.append("the engine lists no manager: run this on a swarm manager")
    elif not quorum["healthy"]:
        errors.append(
            "the swarm is not healthy enough to start a rolling run: "
            + "; ".join(quorum["warnings"] or [f"unreachable managers: {', '.join(quorum['unreachable'])}"])
            + ". Bring every manager back (flotilla status shows which) and re-run"
        )

    for host in facts:
        node = by_id.get(host.node_id) if host.node_id else None
        if node is None:
            errors.append(
                f"{host.name} is not a member of this swarm (node ID {host.node_id or 'none'}): form the "
                "cluster with playbooks/site.yml first, or take it out of the inventory"
            )
            continue
        status = node.get("Status") or {}
        engine_role = (node.get("Spec") or {}).get("Role", "worker")
        leader = bool((node.get("ManagerStatus") or {}).get("Leader"))
        decision = NodeDecision(
            name=host.name,
            role=host.role,
            node_id=host.node_id,
            hostname=(node.get("Description") or {}).get("Hostname", ""),
            leader=leader,
            state=status.get("State", "unknown"),
            availability=_availability(node),
            version_before=host.running_version,
            decision="skip",
        )
        decisions.append(decision)
        if engine_role != host.role:
            errors.append(
                f"{host.name} is a {engine_role} in the swarm but a {host.role} in the inventory: run "
                "playbooks/site.yml to reconcile roles first"
            )
            decision.decision = "refuse"
            continue
        reasons, refusal, restart = _reasons(host, target, os_packages, reboot)
        if refusal:
            errors.append(refusal)
            decision.decision = "refuse"
            continue
        if reasons and decision.state != "ready":
            errors.append(
                f"{host.name} is {decision.state} ({status.get('Message', 'no message')}): bring it back "
                "before the rolling run, or leave it out with --limit"
            )
            decision.decision = "refuse"
            continue
        decision.reasons = reasons
        decision.restart_expected = restart
        if reasons:
            decision.decision = "upgrade"
            decision.actions = _actions(reasons, restart, os_packages, reboot, host)
        elif decision.availability == "drain" and host.availability != "drain":
            decision.decision = "reactivate"
            decision.reasons = ["done, but left drained by a stopped run"]
            decision.actions = [f"set availability {host.availability}"]

    total_workers = sum(1 for h in facts if h.role == "worker")
    size = parse_batch_size(batch_size, total_workers)
    pending = [d for d in decisions if d.decision == "upgrade"]
    ordered = plan_upgrade(
        [PlanNode(d.name, d.role, None, d.leader) for d in pending], batch_size=size, target_version=None
    )
    warnings.extend(ordered.warnings)
    if quorum:
        warnings.extend(w for w in quorum["warnings"] if w not in warnings)
    plan = ordered.as_dict()
    result = {
        "target_version": target,
        "worker_batch_size": size,
        "batches": plan["batches"],
        "pending": plan["pending"],
        "managers_pending": [b["nodes"][0] for b in plan["batches"] if b["role"] == "manager"],
        "workers_pending": [n for b in plan["batches"] if b["role"] == "worker" for n in b["nodes"]],
        "reactivate": [d.name for d in decisions if d.decision == "reactivate"],
        "skipped": [d.name for d in decisions if d.decision == "skip"],
        "nodes": {d.name: asdict(d) for d in decisions},
        "errors": errors,
        "warnings": warnings,
        "quorum": {k: list(v) if isinstance(v, tuple) else v for k, v in quorum.items()},
    }
    result["lines"] = plan_lines(result)
    return result


def plan_lines(plan: dict) -> list:
    """The plan as an operator reads it in --check output and in the run's log."""
    target = f" to Docker {plan['target_version']}" if plan.get("target_version") else ""
    restarts = sum(1 for n in plan["pending"] if plan["nodes"][n]["restart_expected"])
    lines = [
        f"{len(plan['pending'])} node(s) to roll{target} in {len(plan['batches'])} batch(es), "
        f"{restarts} engine restart(s) expected; workers {plan['worker_batch_size']} at a time"
    ]
    for batch in plan["batches"]:
        lines.append(f"batch {batch['number']} ({batch['role']}): {', '.join(batch['nodes'])}")
        for name in batch["nodes"]:
            node = plan["nodes"][name]
            lead = ", leader" if node["leader"] else ""
            lines.append(
                f"  {name} [{node['version_before'] or 'unknown'}{lead}]: {'; '.join(node['reasons'])}"
            )
            lines.append(f"    {' -> '.join(node['actions'])}")
    for name in plan["reactivate"]:
        lines.append(f"reactivate {name}: {'; '.join(plan['nodes'][name]['reasons'])}")
    for name in plan["skipped"]:
        node = plan["nodes"][name]
        lines.append(f"skip {name} [{node['version_before'] or 'unknown'}]: nothing to change")
    lines.extend(f"warning: {w}" for w in plan["warnings"])
    lines.extend(f"error: {e}" for e in plan["errors"])
    return lines


def manager_addresses(engine_nodes) -> dict:
    """Each manager's Raft address (ManagerStatus.Addr, ``host:port``) by node ID, for live probes.

    A manager without an address is listed with ``""``: it cannot be probed, so it must count as
    unreachable rather than be taken on the engine's word.
    """
    return {
        node.get("ID", ""): (node.get("ManagerStatus") or {}).get("Addr") or ""
        for node in engine_nodes or []
        if node.get("ManagerStatus")
    }


def split_address(address: str):
    """``host:port`` (IPv6 in brackets) -> (host, port); ValueError with the reason otherwise."""
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"the swarm lists the Raft address {address!r}, not host:port")
    return host, int(port)


def check_step(engine_nodes, node_id: str, allow_single_manager: bool = False, unreachable=None) -> dict:
    """May ``node_id`` go down now? Fresh engine data, read right before the drain.

    Workers may always go down (their capacity loss is the batch size the operator chose).
    A manager goes down only if quorum.check_action allows it; the one exception is a swarm with a
    single manager when ``allow_single_manager`` is set: its control plane pauses while the engine
    restarts (running tasks keep running), a choice the operator must make explicitly.

    ``unreachable`` maps node IDs to why a live probe could not reach them right now. The Raft view
    lags a partition by several seconds (a manager cut off a moment ago still reads "reachable"),
    so a manager counts as reachable only if the engine says so AND the probe got through. A node
    that cannot be reached is never rolled: draining it works, but its upgrade would fail halfway
    and leave it drained.
    """
    unreachable = dict(unreachable or {})
    by_id = _index(engine_nodes)
    node = by_id.get(node_id) or next(
        (n for n in by_id.values() if (n.get("Description") or {}).get("Hostname") == node_id), None
    )
    if node is None:
        reason = f"node {node_id} is not in the swarm's node list"
        return {"allowed": False, "label": node_id, "reason": reason}
    node_id = node.get("ID", node_id)
    label = (node.get("Description") or {}).get("Hostname") or node_id
    version = record_version(node)
    why_down = _why_unreachable(node, unreachable)
    if why_down:
        return {
            "allowed": False,
            "record_version": version,
            "label": label,
            "reason": f"{label} is unreachable ({why_down}): a node that cannot be reached cannot be "
            "drained, upgraded and brought back; restore its network or engine, then re-run "
            "(nodes already done are skipped)",
            "unreachable": _unreachable_labels(engine_nodes, unreachable),
        }
    if (node.get("Spec") or {}).get("Role") != "manager":
        return {
            "allowed": True,
            "record_version": version,
            "label": label,
            "reason": f"{label} is a worker: no quorum at stake",
        }
    managers = []
    for engine_node in engine_nodes:
        manager = manager_from_api(engine_node)
        if manager is not None and manager.node_id in unreachable:
            manager = replace(manager, reachable=False)
        if manager is not None:
            managers.append(manager)
    decision = check_action(managers, ACTION_DOWN, node_id)
    down = _unreachable_labels(engine_nodes, unreachable)
    reason = decision.reason
    if not decision.allowed and down:
        reason += "; unreachable now: " + ", ".join(f"{name} ({why})" for name, why in down.items())
    result = {
        "allowed": decision.allowed,
        "record_version": version,
        "label": label,
        "reason": reason,
        "decision": asdict(decision),
        "unreachable": down,
    }
    if not decision.allowed and len(managers) == 1 and allow_single_manager:
        result.update(
            allowed=True,
            reason=f"{label} is the only manager: the control plane pauses while it restarts "
            "(flotilla_upgrade_allow_single_manager is true); running tasks keep running",
        )
    summary = quorum_summary(managers)
    if result["allowed"] and summary.leader is None and len(managers) > 1:
        result.update(
            allowed=False, reason="no leader is elected right now; wait for the election and re-run"
        )
    return result


def _why_unreachable(node: dict, unreachable: dict) -> str:
    """Why ``node`` cannot be reached now: the live probe's words, the engine's, or ''."""
    if node.get("ID", "") in unreachable:
        return unreachable[node.get("ID", "")]
    status = node.get("ManagerStatus")
    if status and status.get("Reachability") != "reachable":
        return f"the swarm reports it {status.get('Reachability') or 'unknown'}"
    if (node.get("Status") or {}).get("State") == "down":
        return "the swarm reports it down"
    return ""


def _unreachable_labels(engine_nodes, unreachable: dict) -> dict:
    """Hostname -> reason for every manager that cannot be reached now (engine view or probe)."""
    out = {}
    for node in engine_nodes or []:
        if not node.get("ManagerStatus"):
            continue
        why = _why_unreachable(node, unreachable)
        if why:
            out[(node.get("Description") or {}).get("Hostname") or node.get("ID", "")] = why
    return out
