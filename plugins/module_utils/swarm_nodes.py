# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Plan the node spec changes that bring a swarm in line with the inventory.

The inventory says, per host: its role (manager or worker), its availability and its labels. The
engine holds each node's spec, and ``update_node`` replaces the whole spec (docs/engine-facts.md), so the plan
carries complete specs built from the ones just read, with their version.

Labels: the inventory manages only the labels it names. To remove a label the inventory no
longer lists, the plan must know that flotilla set it, so every node whose inventory lists labels
also carries one bookkeeping label, ``MANAGED_LABELS_KEY``, whose value is the JSON list of the
label keys flotilla manages there. A label added by hand (or by another tool) is never touched,
unless the caller asks for exclusive labels: then every label the inventory does not list goes.

Role changes keep quorum: promotions come first, demotions last, and each demotion is checked with
:func:`quorum.check_action` against the managers as they will be after the demotions before it.
Runs on managed nodes: Python 3.9 syntax.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

from ansible_collections.flotilla.cluster.plugins.module_utils.quorum import (
    ACTION_DEMOTE,
    ACTION_PROMOTE,
    Manager,
    check_action,
    manager_from_api,
)

MANAGED_LABELS_KEY = "org.flotilla.swarm.managed-labels"
ROLES = ("manager", "worker")
AVAILABILITIES = ("active", "pause", "drain")


class PlanError(ValueError):
    """The inventory cannot be applied; the message says what to do."""


@dataclass(frozen=True)
class DesiredNode:
    """What the inventory wants for one host. ``availability`` empty means leave it as it is."""

    name: str
    node_id: str
    role: str
    labels: dict = field(default_factory=dict)
    availability: str = ""


@dataclass
class NodeUpdate:
    name: str
    node_id: str
    version: int
    spec: dict
    changes: list
    before: dict
    after: dict


@dataclass
class Plan:
    updates: list
    unmanaged: list
    warnings: list


def label_value(value) -> str:
    """Docker labels are strings; YAML booleans become ``true``/``false``, not Python's ``True``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def managed_keys(value: str | None) -> set:
    """Keys recorded in the bookkeeping label; a damaged value counts as none (never guess)."""
    if not value:
        return set()
    try:
        keys = json.loads(value)
    except ValueError:
        return set()
    if not isinstance(keys, list):
        return set()
    return {key for key in keys if isinstance(key, str)}


def plan_labels(current: dict, desired: dict, exclusive: bool = False) -> dict:
    """The node's labels after applying the inventory's ``desired`` labels."""
    current = dict(current or {})
    desired = {key: label_value(value) for key, value in (desired or {}).items()}
    if MANAGED_LABELS_KEY in desired:
        raise PlanError(f"the label {MANAGED_LABELS_KEY} is flotilla's bookkeeping; choose another key")
    if exclusive:
        dropped = set(current) - set(desired)
    else:
        dropped = managed_keys(current.get(MANAGED_LABELS_KEY)) - set(desired)
    labels = {
        key: value for key, value in current.items() if key not in dropped and key != MANAGED_LABELS_KEY
    }
    labels.update(desired)
    if desired:
        labels[MANAGED_LABELS_KEY] = json.dumps(sorted(desired), separators=(",", ":"))
    return labels


def visible_labels(labels: dict) -> dict:
    """Labels without the bookkeeping entry, as an operator compares them with the inventory."""
    return {key: value for key, value in (labels or {}).items() if key != MANAGED_LABELS_KEY}


def _describe(node: dict) -> dict:
    spec = node.get("Spec") or {}
    return {
        "role": spec.get("Role", ""),
        "availability": spec.get("Availability", ""),
        "labels": dict(spec.get("Labels") or {}),
    }


def _label_changes(before: dict, after: dict) -> list:
    changes = []
    for key in sorted(set(before) | set(after)):
        if key == MANAGED_LABELS_KEY:
            continue
        if key not in after:
            changes.append(f"label {key} removed")
        elif key not in before:
            changes.append(f"label {key}={after[key]} added")
        elif before[key] != after[key]:
            changes.append(f"label {key} changed from {before[key]} to {after[key]}")
    return changes


def _validate(desired: DesiredNode) -> None:
    if desired.role not in ROLES:
        raise PlanError(f"{desired.name}: role must be one of {', '.join(ROLES)}, got {desired.role!r}")
    if desired.availability and desired.availability not in AVAILABILITIES:
        raise PlanError(
            f"{desired.name}: availability must be one of {', '.join(AVAILABILITIES)}, "
            f"got {desired.availability!r}"
        )
    if not isinstance(desired.labels, dict):
        raise PlanError(f"{desired.name}: labels must be a mapping, got {type(desired.labels).__name__}")


def plan_nodes(nodes: list, desired: list, exclusive_labels: bool = False) -> Plan:
    """Compare the engine's ``nodes`` (``GET /nodes``) with the ``desired`` nodes.

    Returns the updates in the order to apply them: promotions, then changes that keep the role,
    then demotions, each demotion cleared by the quorum check. Raises :class:`PlanError` when a
    desired node is missing from the swarm or a demotion would cost quorum.
    """
    by_id = {node.get("ID"): node for node in nodes}
    warnings = []
    managers = [m for m in (manager_from_api(node) for node in nodes) if m is not None]
    seen = set()
    promotions, keeps, demotions = [], [], []

    for wanted in desired:
        _validate(wanted)
        if wanted.node_id in seen:
            raise PlanError(f"{wanted.name}: node {wanted.node_id} is listed for two inventory hosts")
        seen.add(wanted.node_id)
        node = by_id.get(wanted.node_id)
        if node is None:
            raise PlanError(
                f"{wanted.name}: node {wanted.node_id or '(no node ID)'} is not in this swarm; "
                "it may have been removed by hand: make it leave its swarm and re-run"
            )
        before = _describe(node)
        after = {
            "role": wanted.role,
            "availability": wanted.availability or before["availability"],
            "labels": plan_labels(before["labels"], wanted.labels, exclusive_labels),
        }
        changes = []
        if after["role"] != before["role"]:
            changes.append(f"role {before['role']} -> {after['role']}")
        if after["availability"] != before["availability"]:
            changes.append(f"availability {before['availability']} -> {after['availability']}")
        changes.extend(_label_changes(before["labels"], after["labels"]))
        if after == before:
            continue
        if not changes:
            # only the bookkeeping label moves (e.g. first run over labels set by hand)
            changes.append("flotilla's record of managed labels updated")
        spec = copy.deepcopy(node.get("Spec") or {})
        spec["Role"] = after["role"]
        spec["Availability"] = after["availability"]
        spec["Labels"] = after["labels"]
        update = NodeUpdate(
            name=wanted.name,
            node_id=wanted.node_id,
            version=(node.get("Version") or {}).get("Index", 0),
            spec=spec,
            changes=changes,
            before={**before, "labels": visible_labels(before["labels"])},
            after={**after, "labels": visible_labels(after["labels"])},
        )
        if before["role"] == "worker" and after["role"] == "manager":
            promotions.append(update)
        elif before["role"] == "manager" and after["role"] == "worker":
            demotions.append(update)
        else:
            keeps.append(update)

    for update in promotions:
        decision = check_action(managers, ACTION_PROMOTE, update.node_id)
        if not decision.allowed:
            raise PlanError(f"{update.name}: {decision.reason}")
        managers = [*managers, Manager(node_id=update.node_id, reachable=True, hostname=update.name)]
    for update in demotions:
        decision = check_action(managers, ACTION_DEMOTE, update.node_id)
        if not decision.allowed:
            raise PlanError(f"{update.name}: refusing to demote: {decision.reason}")
        managers = [m for m in managers if m.node_id != update.node_id]
        if decision.leader_affected:
            warnings.append(f"{update.name}: {decision.reason}")

    unmanaged = sorted(
        ((node.get("Description") or {}).get("Hostname") or node.get("ID", ""))
        for node in nodes
        if node.get("ID") not in seen
    )
    return Plan(updates=promotions + keeps + demotions, unmanaged=unmanaged, warnings=warnings)


def locked_refusal(plan: Plan, locked_by: str) -> str:
    """Why the plan must not be applied now, or "" when it may.

    ``locked_by`` says who holds the cluster lock ("" when nobody does). While a rolling run
    (an upgrade draining nodes, a remove_node) holds it, a role, availability or label change
    would fight it: an upgrade's drained node made active again, a demotion during its quorum
    check. A plan with nothing to change needs no lock at all.
    """
    if not locked_by or not plan.updates:
        return ""
    wanted = "; ".join(f"{u.name}: {', '.join(u.changes)}" for u in plan.updates)
    return (
        f"{locked_by}. Nodes' roles, availability and labels are not changed while a rolling run "
        f"holds the lock; this run would change {wanted}. Run it again once that run has finished "
        "(if it died, break the lock: docker config rm flotilla-lock on a manager)"
    )


def node_summary(node: dict) -> dict:
    """One line of cluster state for reports: hostname, role, status, availability, labels."""
    spec = node.get("Spec") or {}
    status = node.get("Status") or {}
    manager = node.get("ManagerStatus") or {}
    return {
        "id": node.get("ID", ""),
        "hostname": (node.get("Description") or {}).get("Hostname", ""),
        "role": spec.get("Role", ""),
        "availability": spec.get("Availability", ""),
        "state": status.get("State", ""),
        "addr": status.get("Addr", ""),
        "reachability": manager.get("Reachability", ""),
        "leader": bool(manager.get("Leader", False)),
        "labels": visible_labels(spec.get("Labels") or {}),
    }
