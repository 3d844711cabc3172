# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Node maintenance for the swarm_node module: drain and wait, activate, promote/demote safely.

* ``update_node`` replaces the whole node spec (docs/engine-facts.md): :func:`plan_node_spec` edits a copy of
  the spec just read, so labels and the other fields survive, and the write carries its version.
* Draining only tells the scheduler to move tasks; :class:`NodeMaintenance` then polls until no
  task is left alive on the node and every affected service runs its replicas elsewhere
  (convergence.evaluate_drain), with its own timeout.
* Promotions and demotions go through quorum.check_action first: an action that would leave fewer
  than a majority of managers reachable is refused before anything is written.

The engine client, clock and sleep are injected; no AnsibleModule here. Python 3.9 syntax.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict

from ansible_collections.flotilla.cluster.plugins.module_utils import docker_client
from ansible_collections.flotilla.cluster.plugins.module_utils.convergence import (
    TERMINAL_TASK_STATES,
    evaluate_drain,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.quorum import (
    ACTION_DEMOTE,
    ACTION_PROMOTE,
    check_action,
    manager_from_api,
    quorum_summary,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_service_state import (
    drain_tasks,
    live_service_ids,
    service_capacity,
    task_state,
)

AVAILABILITIES = ("active", "pause", "drain")
ROLES = ("manager", "worker")


class NodeError(Exception):
    """A failure the module reports with ``fail_json(msg=..., **result)``."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.message = message
        self.result = result or {}


def find_node(nodes, name: str) -> dict:
    """The node whose ID or hostname is ``name`` (an ID wins; a unique ID prefix is accepted)."""
    by_id = [n for n in nodes if n.get("ID") == name]
    if by_id:
        return by_id[0]
    by_host = [n for n in nodes if (n.get("Description") or {}).get("Hostname") == name]
    if len(by_host) == 1:
        return by_host[0]
    if len(by_host) > 1:
        ids = ", ".join(n.get("ID", "") for n in by_host)
        raise NodeError(f"hostname {name} matches several nodes ({ids}); give the node ID")
    by_prefix = [n for n in nodes if n.get("ID", "").startswith(name)]
    if len(by_prefix) == 1:
        return by_prefix[0]
    known = ", ".join(sorted((n.get("Description") or {}).get("Hostname", n.get("ID", "")) for n in nodes))
    raise NodeError(f"no swarm node is called {name}; the swarm has: {known}")


def node_view(node: dict) -> dict:
    spec = node.get("Spec") or {}
    return {
        "id": node.get("ID", ""),
        "hostname": (node.get("Description") or {}).get("Hostname", ""),
        "role": spec.get("Role", "worker"),
        "availability": spec.get("Availability", "active"),
        "labels": dict(spec.get("Labels") or {}),
        "state": (node.get("Status") or {}).get("State", "unknown"),
        "manager_reachability": (node.get("ManagerStatus") or {}).get("Reachability"),
        "leader": bool((node.get("ManagerStatus") or {}).get("Leader", False)),
    }


def plan_node_spec(spec: dict, availability: str | None, role: str | None) -> tuple[dict, dict]:
    """(the new complete spec, {field: (before, after)} for what changes). None keeps a field."""
    new = copy.deepcopy(spec or {})
    changes = {}
    for key, value in (("Availability", availability), ("Role", role)):
        if value is None:
            continue
        before = new.get(key) or ("active" if key == "Availability" else "worker")
        if before != value:
            changes[key.lower()] = (before, value)
        new[key] = value
    return new, changes


def managers_of(nodes) -> list:
    return [m for m in (manager_from_api(n) for n in nodes) if m is not None]


def quorum_dict(nodes) -> dict:
    managers = managers_of(nodes)
    if not managers:
        return {}
    summary = asdict(quorum_summary(managers))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in summary.items()}


class NodeMaintenance:
    def __init__(self, api, now=time.monotonic, sleep=time.sleep, poll_interval=1.0):
        self.api = api
        self.now = now
        self.sleep = sleep
        self.poll_interval = poll_interval

    def run(self, options: dict, check_mode: bool = False) -> dict:
        try:
            return self._run(options, check_mode)
        except docker_client.APIError as exc:
            raise NodeError(
                f"the engine refused a request for node {options['node']}: {docker_client.error_text(exc)}. "
                "Run this on a reachable manager; if the node changed meanwhile, run again"
            ) from None

    def _run(self, options, check_mode) -> dict:
        nodes = self.api.nodes() or []
        node = find_node(nodes, options["node"])
        node_id = node["ID"]
        view = node_view(node)
        label = view["hostname"] or node_id
        result = {
            "changed": False,
            "node": view,
            "quorum": quorum_dict(nodes),
            "drain": {},
            "elapsed": 0.0,
        }

        role = options.get("role")
        decision = None
        if role is not None and role != view["role"]:
            if role == "manager" and view["state"] != "ready":
                raise NodeError(
                    f"cannot promote {label}: its state is {view['state']}, not ready; bring it up first",
                    result,
                )
            action = ACTION_PROMOTE if role == "manager" else ACTION_DEMOTE
            decision = check_action(managers_of(nodes), action, node_id)
            result["quorum_decision"] = asdict(decision)
            if not decision.allowed:
                raise NodeError(f"refused to {action} {label}: {decision.reason}", result)

        new_spec, changes = plan_node_spec(node.get("Spec") or {}, options.get("state"), role)
        result["changed"] = bool(changes)
        result["diff"] = {
            "before": {k: v[0] for k, v in changes.items()},
            "after": {k: v[1] for k, v in changes.items()},
        }
        draining = options.get("state") == "drain"
        before_tasks = (self.api.tasks(filters={"node": node_id}) or []) if draining else []

        what = ", ".join(f"{k} {v[0]} -> {v[1]}" for k, v in changes.items()) or "nothing to change"
        if decision is not None:
            what += f" ({decision.reason})"
        if check_mode:
            return dict(result, msg=f"node {label}: {what}" + (" (check mode)" if changes else ""))
        waiting = draining and options.get("wait", True)
        if waiting and "role" in changes:
            # A role change waits for the drain: a manager is demoted only once its tasks run
            # elsewhere, with quorum checked again on the node list read after the wait.
            return self._drain_then_change_role(node, label, before_tasks, options, result, role)
        if changes:
            self.api.update_node(node_id, node["Version"]["Index"], new_spec)
            result["node"] = dict(view, availability=new_spec.get("Availability"), role=new_spec.get("Role"))
            if role is not None and role != view["role"]:
                result["quorum"] = self._quorum_after(result["quorum"])
        if not waiting:
            return dict(result, msg=f"node {label}: {what}")
        return self._wait_drained(node_id, label, before_tasks, options, result, what)

    def _drain_then_change_role(self, node, label, before_tasks, options, result, role) -> dict:
        node_id = node["ID"]
        drained_spec, drained = plan_node_spec(node.get("Spec") or {}, "drain", None)
        if drained:
            self.api.update_node(node_id, node["Version"]["Index"], drained_spec)
        result["node"] = dict(result["node"], availability="drain")
        try:
            self._wait_drained(node_id, label, before_tasks, options, result, "availability -> drain")
        except NodeError as exc:
            raise NodeError(
                f"{exc.message}; its role was left {result['node']['role']} (not changed before the drain "
                "finishes)",
                exc.result,
            ) from None
        nodes = self.api.nodes() or []
        fresh = find_node(nodes, node_id)
        action = ACTION_PROMOTE if role == "manager" else ACTION_DEMOTE
        decision = check_action(managers_of(nodes), action, node_id)
        result["quorum_decision"] = asdict(decision)
        if not decision.allowed:
            raise NodeError(
                f"{label} is drained, but refused to {action} it now: {decision.reason}; it stays "
                f"{result['node']['role']}",
                result,
            )
        new_spec, _ = plan_node_spec(fresh.get("Spec") or {}, None, role)
        self.api.update_node(node_id, fresh["Version"]["Index"], new_spec)
        before_role = result["node"]["role"]
        result["node"] = dict(result["node"], role=role)
        result["quorum"] = self._quorum_after(result["quorum"])
        what = f"availability -> drain, drained, then role {before_role} -> {role} ({decision.reason})"
        return dict(result, msg=f"node {label}: {what}; {result['drain']['message']}")

    def _quorum_after(self, before: dict) -> dict:
        # After demoting the manager this module talks to, it can no longer list nodes.
        try:
            return quorum_dict(self.api.nodes() or [])
        except docker_client.APIError:
            return dict(
                before, note="read before the role change: this engine no longer answers as a manager"
            )

    def _wait_drained(self, node_id, label, before_tasks, options, result, what) -> dict:
        started = self.now()
        timeout = float(options.get("timeout") or 0)
        initially_alive = {t["ID"] for t in before_tasks if task_state(t) not in TERMINAL_TASK_STATES}
        affected = set(live_service_ids(before_tasks))
        accepted = set(options.get("unmovable_services") or [])
        while True:
            node_tasks = self.api.tasks(filters={"node": node_id}) or []
            affected |= set(live_service_ids(node_tasks))
            nodes = self.api.nodes() or []
            services, capacities = {}, []
            for service_id in sorted(affected):
                try:
                    service = self.api.inspect_service(service_id)
                except docker_client.NotFound:
                    continue  # removed meanwhile: nothing to wait for
                services[service_id] = service
                running = self.api.tasks(filters={"service": service_id, "desired-state": "running"}) or []
                capacity = service_capacity(service, running, nodes, node_id)
                if capacity.service not in accepted:  # accepted: its tasks stop, nothing to wait for
                    capacities.append(capacity)
            elapsed = self.now() - started
            verdict = evaluate_drain(drain_tasks(node_tasks, services), capacities, elapsed, timeout)
            alive = {t["ID"] for t in node_tasks if task_state(t) not in TERMINAL_TASK_STATES}
            result["drain"] = {
                "complete": verdict.complete,
                "tasks_moved": len(initially_alive - alive),
                "tasks_remaining": list(verdict.tasks_on_node),
                "services_short": list(verdict.services_short),
                "services": sorted(c.service for c in capacities),
                "seconds": round(elapsed, 3),
                "message": verdict.message,
            }
            result["elapsed"] = round(elapsed, 3)
            if verdict.complete:
                return dict(result, msg=f"node {label}: {what}; {verdict.message}")
            if verdict.timed_out:
                raise NodeError(f"node {label}: {verdict.message}", result)
            self.sleep(self.poll_interval)
