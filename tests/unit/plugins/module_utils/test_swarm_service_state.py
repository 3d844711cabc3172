# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

from dataclasses import replace

from ansible_collections.flotilla.cluster.plugins.module_utils.convergence import (
    CONVERGED,
    PAUSED,
    DrainTask,
    ServiceCapacity,
    evaluate_update,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_service_state import (
    drain_tasks,
    live_service_ids,
    node_index,
    probe_targets,
    service_capacity,
    service_snapshot,
    slot_states,
    task_snapshot,
    terminal_task_ids,
)

NODES = [
    {
        "ID": "n1",
        "Description": {"Hostname": "m1"},
        "Spec": {"Availability": "active"},
        "Status": {"State": "ready", "Addr": "10.0.0.1"},
    },
    {
        "ID": "n2",
        "Description": {"Hostname": "w1"},
        "Spec": {"Availability": "drain"},
        "Status": {"State": "ready", "Addr": "10.0.0.2"},
    },
    {
        "ID": "n3",
        "Description": {"Hostname": "w2"},
        "Spec": {"Availability": "active"},
        "Status": {"State": "down", "Addr": "10.0.0.3"},
    },
]


def task(
    task_id, node="n1", slot=1, state="running", desired="running", err="", version=1, service="s1", **extra
):
    data = {
        "ID": task_id,
        "ServiceID": service,
        "NodeID": node,
        "Slot": slot,
        "DesiredState": desired,
        "Version": {"Index": version},
        "Spec": {"ContainerSpec": {"Image": "app:1"}},
        "Status": {"State": state, "Err": err, "Message": state},
    }
    data.update(extra)
    return data


def service(mode=None, update_state=None, ports=None):
    svc = {"ID": "s1", "Spec": {"Name": "web", "Mode": mode or {"Replicated": {"Replicas": 2}}}}
    if update_state:
        svc["UpdateStatus"] = {"State": update_state, "Message": f"update {update_state}"}
    if ports:
        svc["Endpoint"] = {"Ports": ports}
    return svc


def test_node_index():
    index = node_index(NODES)
    assert index["n1"] == {"hostname": "m1", "addr": "10.0.0.1", "down": False, "ready": True, "active": True}
    assert index["n2"]["active"] is False
    assert index["n3"]["down"] is True
    assert node_index(None) == {}


def test_task_snapshot_uses_hostnames_and_marks_down_nodes():
    index = node_index(NODES)
    snap = task_snapshot(task("t1", node="n3", err="boom"), {"t1"}, index)
    assert snap.node_id == "w2" and snap.node_down is True and snap.up_to_date is True and snap.err == "boom"
    unknown = task_snapshot(task("t2", node=""), set(), index)
    assert unknown.node_id == "" and unknown.node_down is False and unknown.up_to_date is False


def test_terminal_task_ids():
    tasks = [task("a"), task("b", state="failed"), task("c", state="shutdown"), task("d", state="pending")]
    assert terminal_task_ids(tasks) == {"b", "c"}


def test_service_snapshot_replicated_excludes_history():
    tasks = [task("old", state="failed", err="old failure"), task("t1"), task("t2", node="n2", slot=2)]
    snap = service_snapshot(
        service(update_state="completed"), tasks, {"t1", "t2"}, NODES, exclude_ids={"old"}, monitor=0
    )
    assert snap.replicas == 2 and snap.mode == "replicated"
    assert [t.task_id for t in snap.tasks] == ["t1", "t2"]
    assert evaluate_update(replace(snap, converged_for=0.0)).status == CONVERGED


def test_service_snapshot_paused_quotes_the_failed_task():
    tasks = [task("t1", state="failed", err="exit 1"), task("t2", slot=2)]
    verdict = evaluate_update(service_snapshot(service(update_state="paused"), tasks, {"t1"}, NODES))
    assert verdict.status == PAUSED and "exit 1" in verdict.message and "m1" in verdict.message


def test_service_snapshot_global_counts_live_nodes_with_current_tasks():
    tasks = [
        task("g1", node="n1"),
        task("g2", node="n2", state="starting"),
        task("g3", node="n3"),  # on a down node: not expected
        task("g0", node="n1", desired="shutdown", state="shutdown"),  # superseded
    ]
    snap = service_snapshot(service(mode={"Global": {}}), tasks, {"g1", "g2", "g3"}, NODES)
    assert snap.mode == "global" and snap.eligible_nodes == 2 and snap.replicas is None
    assert snap.update_state is None


def test_slot_states_newest_task_per_slot():
    tasks = [
        task("a-old", slot=1, version=3, state="shutdown", desired="shutdown"),
        task("a-new", slot=1, version=9, state="running"),
        task("b", slot=2, node="n2", version=5, state="failed", err="exit 1"),
    ]
    rows = slot_states(service(), tasks, {"a-new"}, NODES)
    assert [(r["slot"], r["task_id"], r["state"], r["up_to_date"]) for r in rows] == [
        (1, "a-new", "running", True),
        (2, "b", "failed", False),
    ]
    assert rows[1]["error"] == "exit 1" and rows[1]["node"] == "w1"
    assert rows[0]["image"] == "app:1"


def test_slot_states_global_by_node():
    tasks = [task("g1", node="n2", slot=None), task("g2", node="n1", slot=None)]
    rows = slot_states(service(mode={"Global": {}}), tasks, {"g1", "g2"}, NODES)
    assert [(r["node"], r["slot"]) for r in rows] == [("m1", None), ("w1", None)]


def test_probe_targets_prefer_host_ports_then_ingress_then_task_address():
    host_port = task(
        "h",
        node="n1",
        Status={
            "State": "running",
            "PortStatus": {"Ports": [{"TargetPort": 8080, "PublishedPort": 30080, "PublishMode": "host"}]},
        },
    )
    ingress_task = task("i", node="n2", slot=2)
    overlay_task = task(
        "o",
        node="n1",
        slot=3,
        NetworksAttachments=[
            {"Network": {"Spec": {"Name": "ingress", "Ingress": True}}, "Addresses": ["10.255.0.5/16"]},
            {"Network": {"Spec": {"Name": "backend"}}, "Addresses": ["10.0.9.7/24"]},
        ],
    )
    stale = task("s", node="n1", slot=4, desired="shutdown")
    svc = service(ports=[{"TargetPort": 8080, "PublishedPort": 80, "PublishMode": "ingress"}])
    current = {"h", "i", "o", "s"}

    rows = probe_targets(svc, [host_port, ingress_task, stale], current, NODES, 8080)
    assert [(r["task_id"], r["host"], r["port"], r["via"]) for r in rows] == [
        ("h", "10.0.0.1", 30080, "host_port"),
        ("i", "10.0.0.2", 80, "ingress_port"),
    ]
    rows = probe_targets(service(), [overlay_task], current, NODES, 9000)
    assert [(r["host"], r["port"], r["via"]) for r in rows] == [("10.0.9.7", 9000, "task_address")]
    rows = probe_targets(service(), [task("bare")], {"bare"}, NODES, 9000)
    assert rows[0]["host"] == "" and rows[0]["via"] == "none"


def test_probe_targets_skip_tasks_not_running_or_not_current():
    tasks = [task("p", state="pending"), task("old")]
    assert probe_targets(service(), tasks, {"p"}, NODES, 80) == []


def test_drain_tasks_and_live_services():
    services = {"s1": {"Spec": {"Name": "web"}}}
    tasks = [task("a", state="running", desired="shutdown"), task("b", state="shutdown", service="s2")]
    assert drain_tasks(tasks, services) == (
        DrainTask("a", "web", "running", "shutdown"),
        DrainTask("b", "s2", "shutdown", "running"),
    )
    assert live_service_ids(tasks) == ["s1"]


def test_service_capacity_replicated_ignores_the_drained_and_down_nodes():
    tasks = [
        task("a", node="n2"),
        task("b", node="n1"),
        task("c", node="n3"),
        task("d", node="n1", state="pending"),
    ]
    capacity = service_capacity(service(), tasks, NODES, "n2")
    assert capacity == ServiceCapacity(service="web", desired=2, running_elsewhere=1)


def test_service_capacity_global_wants_the_other_live_nodes():
    tasks = [task("a", node="n2"), task("b", node="n1")]
    capacity = service_capacity(service(mode={"Global": {}}), tasks, NODES, "n2")
    assert capacity == ServiceCapacity(service="web", desired=1, running_elsewhere=1)


def test_service_capacity_job_wants_nothing():
    capacity = service_capacity(service(mode={"ReplicatedJob": {}}), [task("a")], NODES, "n2")
    assert capacity.desired == 0
