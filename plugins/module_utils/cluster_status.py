# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""A Swarm cluster's status from one manager's view: nodes, quorum and services.

Built from the engine's own JSON (``GET /nodes``, ``/services``, ``/tasks``) so the status module
stays a thin shell and these rules are tested with tables of cases:

* a service's *running* count is tasks whose desired state is running and whose state is running,
  the count ``docker service ls`` shows; its *desired* count is the replica count, or for a global
  service the tasks the orchestrator wants running (one per eligible node);
* a failing task is one of the service's slots (or, for a global service, nodes) that has no
  running task, reported with the engine's own error (``Status.Err``) so the operator sees why;
* a service without ``UpdateStatus`` has never been updated: its update state is ``none``.

Pure; Python 3.9 syntax (module_utils run on managed nodes).
"""

from __future__ import annotations

from dataclasses import asdict

from ansible_collections.flotilla.cluster.plugins.module_utils.quorum import manager_from_api, quorum_summary

FAILED_STATES = ("failed", "rejected", "orphaned")
MAX_FAILING_PER_SERVICE = 5


def node_row(node: dict) -> dict:
    spec = node.get("Spec") or {}
    description = node.get("Description") or {}
    status = node.get("Status") or {}
    manager = node.get("ManagerStatus") or {}
    return {
        "id": node.get("ID", ""),
        "hostname": description.get("Hostname", ""),
        "role": spec.get("Role", "worker"),
        "availability": spec.get("Availability", "active"),
        "state": status.get("State", "unknown"),
        "message": status.get("Message", ""),
        "addr": status.get("Addr", ""),
        "engine_version": (description.get("Engine") or {}).get("EngineVersion", ""),
        "leader": bool(manager.get("Leader", False)),
        "manager_reachability": manager.get("Reachability") if manager else None,
    }


def short_image(image: str) -> str:
    """``name:tag@sha256:<64 hex>`` shortened to 12 hex digits for tables."""
    name, sep, digest = (image or "").partition("@")
    if not sep:
        return name
    algo, _, hexa = digest.partition(":")
    return f"{name}@{algo}:{hexa[:12]}"


def _task_state(task: dict) -> str:
    return (task.get("Status") or {}).get("State", "unknown")


def _slot_key(task: dict, global_mode: bool):
    return task.get("NodeID", "") if global_mode else task.get("Slot", 0)


def service_row(service: dict, tasks, hostnames: dict) -> dict:
    """One service's status line; ``tasks`` are its tasks, ``hostnames`` maps node ID to hostname."""
    spec = service.get("Spec") or {}
    mode = spec.get("Mode") or {}
    global_mode = "Global" in mode or "GlobalJob" in mode
    wanted = [t for t in tasks if t.get("DesiredState") == "running"]
    running = [t for t in wanted if _task_state(t) == "running"]
    if global_mode:
        desired = len({t.get("NodeID", "") for t in wanted})
    else:
        desired = int(((mode.get("Replicated") or {}).get("Replicas")) or 0)
    update = service.get("UpdateStatus") or {}
    running_slots = {_slot_key(t, global_mode) for t in running}
    failing = []
    newest_first = sorted(
        tasks, key=lambda t: (t.get("UpdatedAt") or t.get("CreatedAt") or "", t.get("ID", "")), reverse=True
    )
    reported_slots = set()
    for task in newest_first:
        state = _task_state(task)
        status = task.get("Status") or {}
        slot = _slot_key(task, global_mode)
        if slot in running_slots or slot in reported_slots:
            continue
        stuck = task.get("DesiredState") == "running" and state != "running"
        if state in FAILED_STATES or (stuck and (status.get("Err") or state in ("pending", "preparing"))):
            reported_slots.add(slot)
            failing.append(
                {
                    "task_id": task.get("ID", ""),
                    "slot": task.get("Slot"),
                    "node": hostnames.get(task.get("NodeID", ""), task.get("NodeID", "")),
                    "state": state,
                    "desired_state": task.get("DesiredState", ""),
                    "error": status.get("Err") or status.get("Message", ""),
                    "updated_at": task.get("UpdatedAt", ""),
                }
            )
        if len(failing) >= MAX_FAILING_PER_SERVICE:
            break
    template = spec.get("TaskTemplate") or {}
    return {
        "id": service.get("ID", ""),
        "name": spec.get("Name", ""),
        "mode": "global" if global_mode else "replicated",
        "image": (template.get("ContainerSpec") or {}).get("Image", ""),
        "desired": desired,
        "running": len(running),
        "converged": len(running) == desired,
        "update_state": update.get("State", "none"),
        "update_message": update.get("Message", ""),
        "failing_tasks": failing,
    }


def summarize(nodes, services, tasks) -> dict:
    """The whole status, JSON-ready: nodes, quorum, services, healthy, problems."""
    node_rows = sorted(
        (node_row(n) for n in nodes or []), key=lambda r: (r["role"] != "manager", r["hostname"])
    )
    hostnames = {r["id"]: r["hostname"] for r in node_rows}
    by_service: dict = {}
    for task in tasks or []:
        by_service.setdefault(task.get("ServiceID", ""), []).append(task)
    service_rows = sorted(
        (service_row(s, by_service.get(s.get("ID", ""), []), hostnames) for s in services or []),
        key=lambda r: r["name"],
    )
    managers = [m for m in (manager_from_api(n) for n in nodes or []) if m is not None]
    quorum = {}
    if managers:
        quorum = {
            k: list(v) if isinstance(v, tuple) else v for k, v in asdict(quorum_summary(managers)).items()
        }
    problems = list(quorum.get("warnings", [])) if quorum else ["no manager is listed"]
    for row in node_rows:
        if row["state"] != "ready":
            problems.append(
                f"node {row['hostname']} is {row['state']}"
                + (f": {row['message']}" if row["message"] else "")
            )
        if row["availability"] != "active":
            problems.append(f"node {row['hostname']} is {row['availability']}")
    versions = sorted({r["engine_version"] for r in node_rows if r["engine_version"]})
    if len(versions) > 1:
        problems.append(f"nodes run different engine releases: {', '.join(versions)}")
    for row in service_rows:
        if not row["converged"]:
            problems.append(f"service {row['name']} runs {row['running']} of {row['desired']} tasks")
        if row["update_state"] in ("paused", "rollback_started", "rollback_paused", "rollback_completed"):
            problems.append(f"service {row['name']} update is {row['update_state']}: {row['update_message']}")
    return {
        "nodes": node_rows,
        "quorum": quorum,
        "services": service_rows,
        "engine_versions": versions,
        "problems": problems,
        "healthy": not problems,
    }


def _table(headers, rows) -> list:
    columns = range(len(headers))
    widths = [max([len(str(headers[i]))] + [len(str(row[i])) for row in rows]) for i in columns]

    def line(cells):
        return "  ".join(str(cells[i]).ljust(widths[i]) for i in columns).rstrip()

    return [line(headers)] + [line(row) for row in rows]


def table_lines(status: dict) -> list:
    """The status as fixed-width tables an operator reads in a terminal."""
    lines = []
    node_rows = [
        (
            r["hostname"] + (" *" if r["leader"] else ""),
            r["role"],
            r["availability"],
            r["state"],
            r["manager_reachability"] or "-",
            r["engine_version"] or "?",
        )
        for r in status["nodes"]
    ]
    lines.extend(_table(("NODE", "ROLE", "AVAILABILITY", "STATE", "MANAGER", "ENGINE"), node_rows))
    quorum = status.get("quorum") or {}
    if quorum:
        lines.append("")
        lines.append(
            f"quorum: {quorum['reachable']} of {quorum['managers']} managers reachable, "
            f"{quorum['majority']} needed; leader {quorum['leader'] or 'none'}; "
            f"can lose {max(quorum['can_lose'], 0)} more"
        )
    lines.append("")
    if status["services"]:
        service_rows = [
            (
                r["name"],
                r["mode"],
                f"{r['running']}/{r['desired']}",
                r["update_state"],
                short_image(r["image"]),
            )
            for r in status["services"]
        ]
        lines.extend(_table(("SERVICE", "MODE", "RUNNING", "UPDATE", "IMAGE"), service_rows))
        for row in status["services"]:
            for task in row["failing_tasks"]:
                where = f"{row['name']} task {task['task_id'][:12]} on {task['node'] or '-'}"
                lines.append(f"  {where}: {task['state']}: {task['error']}")
    else:
        lines.append("no services")
    lines.append("")
    if status["problems"]:
        lines.append("problems:")
        lines.extend(f"  - {p}" for p in status["problems"])
    else:
        lines.append("healthy: every node ready and active, quorum with a leader, every service converged")
    return lines


def status_report(tries, not_reached, lock=None) -> dict:
    """The report of playbooks/status.yml, from the managers asked in turn.

    ``tries`` are the swarm_status results of the managers asked, in order (each names its
    manager in ``item``; one that answered has ``status`` and ``lines``, one whose engine did not
    has ``msg``). ``not_reached`` maps the managers SSH could not reach to why. ``lock`` is the
    swarm_lock query from the manager that answered (empty when none did).

    Returns {answered, read_from, status, lines, unanswered}: ``unanswered`` maps every manager
    that could not report to why, SSH or engine; the status carries it and the lock's holder too.
    """
    unanswered = {
        host: f"no answer over SSH: {str(why or 'unreachable').strip()}" for host, why in not_reached.items()
    }
    answer = None
    for tried in tries or []:
        if "status" in tried:
            answer = tried
            break
        why = str(tried.get("msg") or "no message").strip()
        unanswered[tried.get("item", "?")] = f"its engine did not answer as a manager: {why}"
    if answer is None:
        return {"answered": False, "read_from": "", "status": {}, "lines": [], "unanswered": unanswered}
    lock = lock or {}
    status = dict(
        answer["status"],
        lock={key: lock.get(key) for key in ("held", "holder", "progress", "error")},
        unanswered=unanswered,
    )
    lines = list(answer.get("lines") or [])
    lines += ["", f"lock: {lock.get('msg') or 'not read'}"]
    lines += [f"not answering: {host}: {why}" for host, why in unanswered.items()]
    return {
        "answered": True,
        "read_from": answer.get("item", ""),
        "status": status,
        "lines": lines,
        "unanswered": unanswered,
    }
