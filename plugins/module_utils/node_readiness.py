# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""When is a restarted node back? The verdict the swarm_node_ready module polls for.

A package on disk proves nothing (a package upgrade does not restart the running daemon), and a
systemd unit that is "active" proves only that dockerd started. The node is back when:

* the swarm lists it ``ready`` (its agent re-registered with the managers);
* the engine version it registered with, which its *running* engine reports in the node
  description, is the target release;
* for a manager, it is ``reachable`` again in Raft, and the managers have quorum and a leader
  (a restarted leader costs an election of about 10 s);
* when the caller restarted the engine (or rebooted the host), the node's record in the swarm has
  changed since: every start of an engine opens a new session with the managers, which rewrites
  the node's status and description and so raises the record's version (a Raft index, monotonic
  across leaders, unlike a timestamp). Without this, a restart that changes no version (daemon.json
  only, OS packages) would read "ready" before the engine even went down.

Pure: the module feeds it the node list it read and acts on the verdict. Python 3.9 syntax.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.flotilla.cluster.plugins.module_utils.quorum import manager_from_api, quorum_summary
from ansible_collections.flotilla.cluster.plugins.module_utils.versions import version_reached


@dataclass
class Readiness:
    ready: bool
    waiting_for: list = field(default_factory=list)
    node: dict = field(default_factory=dict)
    engine_version: str = ""
    leader: str = ""


def find(engine_nodes, name: str) -> dict | None:
    """The node whose ID or hostname is ``name``."""
    for node in engine_nodes or []:
        if node.get("ID") == name:
            return node
    matches = [n for n in engine_nodes or [] if (n.get("Description") or {}).get("Hostname") == name]
    return matches[0] if len(matches) == 1 else None


def record_version(node: dict | None) -> int:
    """The node record's version (Version.Index), 0 when unknown."""
    try:
        return int(((node or {}).get("Version") or {}).get("Index") or 0)
    except (TypeError, ValueError):
        return 0


def evaluate(
    engine_nodes, name: str, target_version: str | None = None, restarted_after: int = 0
) -> Readiness:
    """Whether node ``name`` is back, and if not, what is still awaited (operator wording).

    ``restarted_after`` is the node record's version read right before its engine was restarted
    (0: no restart to prove); the node counts as back only once its record is newer.
    """
    node = find(engine_nodes, name)
    if node is None:
        return Readiness(False, [f"node {name} to appear in the swarm's node list"])
    description = node.get("Description") or {}
    status = node.get("Status") or {}
    version = ((description.get("Engine") or {}).get("EngineVersion")) or ""
    view = {
        "id": node.get("ID", ""),
        "hostname": description.get("Hostname", ""),
        "role": (node.get("Spec") or {}).get("Role", "worker"),
        "availability": (node.get("Spec") or {}).get("Availability", "active"),
        "state": status.get("State", "unknown"),
        "message": status.get("Message", ""),
        "engine_version": version,
        "manager_reachability": (node.get("ManagerStatus") or {}).get("Reachability"),
        "record_version": record_version(node),
    }
    waiting = []
    if restarted_after and view["record_version"] <= restarted_after:
        waiting.append(
            "the restarted engine to register with the managers (the node's swarm record has not "
            f"changed since before the restart, version {view['record_version']})"
        )
    if view["state"] != "ready":
        detail = f" ({view['message']})" if view["message"] else ""
        waiting.append(f"the node to be ready (it is {view['state']}{detail})")
    if target_version:
        try:
            reached = version_reached(version or None, target_version)
        except ValueError:
            reached = False
        if not reached:
            waiting.append(
                f"its running engine to report {target_version} (it reports {version or 'nothing yet'})"
            )
    leader = ""
    managers = [m for m in (manager_from_api(n) for n in engine_nodes) if m is not None]
    if view["role"] == "manager" and view["manager_reachability"] != "reachable":
        waiting.append(
            f"the manager to be reachable in Raft (it is {view['manager_reachability'] or 'unknown'})"
        )
    if managers:
        summary = quorum_summary(managers)
        leader = summary.leader or ""
        if not summary.has_quorum:
            waiting.append(f"quorum ({summary.reachable} of {summary.managers} managers reachable)")
        elif not summary.leader_reachable:
            waiting.append("a leader to be elected")
    return Readiness(not waiting, waiting, view, version, leader)
