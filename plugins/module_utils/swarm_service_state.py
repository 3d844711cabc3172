# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Turn what the engine returns (service, task and node objects) into what the logic needs.

convergence.py judges snapshots; this module builds them from raw ``GET /services``, ``/tasks``
and ``/nodes`` dicts, and also derives the per-slot task table a rollout returns, the addresses a
health probe should try, and the capacity of services affected by a node drain. Pure functions:
the caller does the reading. Kept to Python 3.9 syntax because module_utils run on managed nodes.
"""

from __future__ import annotations

from ansible_collections.flotilla.cluster.plugins.module_utils.convergence import (
    TERMINAL_TASK_STATES,
    DrainTask,
    ServiceCapacity,
    ServiceSnapshot,
    TaskSnapshot,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_service_spec import service_mode


def node_index(nodes) -> dict:
    """Node ID -> {hostname, addr, down, ready, active} from ``GET /nodes``."""
    index = {}
    for node in nodes or []:
        status = node.get("Status") or {}
        spec = node.get("Spec") or {}
        description = node.get("Description") or {}
        index[node.get("ID", "")] = {
            "hostname": description.get("Hostname", ""),
            "addr": status.get("Addr", ""),
            "down": status.get("State") == "down",
            "ready": status.get("State") == "ready",
            "active": spec.get("Availability", "active") == "active",
        }
    return index


def task_state(task: dict) -> str:
    return (task.get("Status") or {}).get("State", "new")


def terminal_task_ids(tasks) -> set:
    """Tasks that can never run again: history to leave out of a new update's failure report."""
    return {t.get("ID", "") for t in tasks or [] if task_state(t) in TERMINAL_TASK_STATES}


def _node_label(nodes: dict, node_id: str) -> str:
    return (nodes.get(node_id) or {}).get("hostname") or node_id


def task_snapshot(task: dict, up_to_date_ids, nodes: dict) -> TaskSnapshot:
    status = task.get("Status") or {}
    node_id = task.get("NodeID", "")
    return TaskSnapshot(
        task_id=task.get("ID", ""),
        node_id=_node_label(nodes, node_id),
        desired_state=task.get("DesiredState", ""),
        state=status.get("State", "new"),
        up_to_date=task.get("ID", "") in up_to_date_ids,
        slot=task.get("Slot"),
        err=status.get("Err", ""),
        message=status.get("Message", ""),
        node_down=bool(node_id) and (nodes.get(node_id) or {}).get("down", False),
    )


def service_snapshot(
    service: dict,
    tasks,
    up_to_date_ids,
    nodes,
    exclude_ids=(),
    monitor: float = 5.0,
    timeout: float = 300.0,
) -> ServiceSnapshot:
    """One poll of a service as convergence.evaluate_update reads it.

    ``exclude_ids`` are tasks already dead before the wait began (history of earlier updates), so
    a failure report quotes this update's tasks only. For a global service the expected count is
    the number of live nodes holding a current-spec task the engine wants running: the engine
    creates exactly one per eligible node, so this counts eligibility without re-implementing
    placement constraints.
    """
    index = node_index(nodes)
    up_to_date = set(up_to_date_ids)
    kept = [t for t in tasks or [] if t.get("ID", "") not in set(exclude_ids)]
    snaps = tuple(task_snapshot(t, up_to_date, index) for t in kept)
    spec = service.get("Spec") or {}
    mode = service_mode(spec)
    replicas = None
    eligible = None
    if mode == "replicated":
        replicas = int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 1))
    elif mode == "global":
        eligible = len(
            {
                t.get("NodeID")
                for t in kept
                if t.get("ID") in up_to_date
                and t.get("DesiredState") == "running"
                and not (index.get(t.get("NodeID", "")) or {}).get("down", False)
            }
        )
    update = service.get("UpdateStatus") or {}
    return ServiceSnapshot(
        update_state=update.get("State") or None,
        tasks=snaps,
        mode=mode,
        replicas=replicas,
        eligible_nodes=eligible,
        update_message=update.get("Message", ""),
        monitor=monitor,
        timeout=timeout,
    )


def _version_index(task: dict) -> int:
    return int((task.get("Version") or {}).get("Index", 0))


def slot_states(service: dict, tasks, up_to_date_ids, nodes) -> list:
    """The newest task of each slot (replicated) or node (global), for the module's result.

    Newest means highest object version: the engine bumps it on every change, and it does not
    depend on clocks.
    """
    index = node_index(nodes)
    up_to_date = set(up_to_date_ids)
    global_mode = service_mode(service.get("Spec") or {}) == "global"
    newest = {}
    for task in tasks or []:
        key = task.get("NodeID", "") if global_mode else task.get("Slot")
        if key not in newest or _version_index(task) > _version_index(newest[key]):
            newest[key] = task
    rows = []
    for key in sorted(newest, key=lambda k: (0, k, "") if isinstance(k, int) else (1, 0, str(k))):
        task = newest[key]
        status = task.get("Status") or {}
        rows.append(
            {
                "slot": None if global_mode else task.get("Slot"),
                "node": _node_label(index, task.get("NodeID", "")),
                "task_id": task.get("ID", ""),
                "state": status.get("State", "new"),
                "desired_state": task.get("DesiredState", ""),
                "up_to_date": task.get("ID", "") in up_to_date,
                "image": ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", ""),
                "error": status.get("Err", ""),
                "message": status.get("Message", ""),
            }
        )
    return rows


def _strip_prefix(address: str) -> str:
    return address.split("/", 1)[0]


def probe_targets(service: dict, tasks, up_to_date_ids, nodes, port: int) -> list:
    """Where to probe container port ``port`` of each running current-spec task.

    In order of preference: the host port the task itself published in host mode
    (``Status.PortStatus``), its node's address and the ingress-published port (the routing mesh
    may answer from another task, so this checks the service rather than that task), and the
    task's address on its first non-ingress network (reachable only where the manager can route
    to that network). Returns dicts {task_id, node, host, port, via}; host empty when none applies.
    """
    index = node_index(nodes)
    up_to_date = set(up_to_date_ids)
    ingress = {}
    for entry in (service.get("Endpoint") or {}).get("Ports") or []:
        if entry.get("PublishMode", "ingress") == "ingress" and entry.get("PublishedPort"):
            ingress[int(entry.get("TargetPort", 0))] = int(entry["PublishedPort"])
    targets = []
    for task in tasks or []:
        if task.get("ID") not in up_to_date or task.get("DesiredState") != "running":
            continue
        if task_state(task) != "running":
            continue
        node = index.get(task.get("NodeID", "")) or {}
        row = {
            "task_id": task.get("ID", ""),
            "node": node.get("hostname") or task.get("NodeID", ""),
            "host": "",
            "port": port,
            "via": "none",
        }
        published = [
            p
            for p in ((task.get("Status") or {}).get("PortStatus") or {}).get("Ports") or []
            if int(p.get("TargetPort", 0)) == port and p.get("PublishedPort")
        ]
        if published and node.get("addr"):
            row.update(host=node["addr"], port=int(published[0]["PublishedPort"]), via="host_port")
        elif port in ingress and node.get("addr"):
            row.update(host=node["addr"], port=ingress[port], via="ingress_port")
        else:
            for attachment in task.get("NetworksAttachments") or []:
                network = attachment.get("Network") or {}
                spec = network.get("Spec") or {}
                if spec.get("Ingress") or spec.get("Name") == "ingress":
                    continue
                addresses = attachment.get("Addresses") or []
                if addresses:
                    row.update(host=_strip_prefix(addresses[0]), via="task_address")
                    break
        targets.append(row)
    return targets


def drain_tasks(tasks, services_by_id: dict) -> tuple:
    """Tasks on the node being drained, as convergence.DrainTask values (service by name)."""
    return tuple(
        DrainTask(
            task_id=t.get("ID", ""),
            service=(services_by_id.get(t.get("ServiceID", "")) or {}).get("Spec", {}).get("Name")
            or t.get("ServiceID", ""),
            state=task_state(t),
            desired_state=t.get("DesiredState", ""),
        )
        for t in tasks or []
    )


def live_service_ids(node_tasks) -> list:
    """Services with a task still alive on a node: those a drain affects."""
    return sorted(
        {
            t.get("ServiceID", "")
            for t in node_tasks or []
            if task_state(t) not in TERMINAL_TASK_STATES and t.get("ServiceID")
        }
    )


def service_capacity(service: dict, service_tasks, nodes, drained_node_id: str) -> ServiceCapacity:
    """How many tasks a service wants off the drained node, and how many run there now.

    Replicated: the replica count. Global: the tasks the engine wants running on other live nodes
    (its task on the drained node is stopped, not moved). Jobs want nothing. Tasks on down nodes
    do not count as running: their last report is stale.
    """
    index = node_index(nodes)
    spec = service.get("Spec") or {}
    mode = service_mode(spec)
    elsewhere = [
        t
        for t in service_tasks or []
        if t.get("NodeID") != drained_node_id
        and t.get("DesiredState") == "running"
        and not (index.get(t.get("NodeID", "")) or {}).get("down", False)
    ]
    running = sum(1 for t in elsewhere if task_state(t) == "running")
    if mode == "replicated":
        desired = int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 1))
    elif mode == "global":
        desired = len(elsewhere)
    else:
        desired = 0
    name = spec.get("Name") or service.get("ID", "")
    return ServiceCapacity(service=name, desired=desired, running_elsewhere=running)
