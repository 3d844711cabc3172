# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.cluster_status import (
    service_row,
    short_image,
    status_report,
    summarize,
    table_lines,
)


def node(
    name, role="worker", state="ready", availability="active", version="26.1.5", leader=False, reachable=True
):
    data = {
        "ID": f"id-{name}",
        "Description": {"Hostname": name, "Engine": {"EngineVersion": version}},
        "Spec": {"Role": role, "Availability": availability},
        "Status": {"State": state, "Addr": "10.0.0.1"},
    }
    if role == "manager":
        data["ManagerStatus"] = {
            "Reachability": "reachable" if reachable else "unreachable",
            "Leader": leader,
        }
    return data


def service(name="web", replicas=2, mode=None, update=None, image="app:1"):
    data = {
        "ID": f"svc-{name}",
        "Spec": {
            "Name": name,
            "Mode": mode or {"Replicated": {"Replicas": replicas}},
            "TaskTemplate": {"ContainerSpec": {"Image": image}},
        },
    }
    if update:
        data["UpdateStatus"] = {"State": update, "Message": f"update {update}"}
    return data


def task(
    tid,
    slot=1,
    state="running",
    desired="running",
    node_id="id-w1",
    err="",
    updated="2024-01-01T00:00:0",
    svc="svc-web",
):
    return {
        "ID": tid,
        "ServiceID": svc,
        "Slot": slot,
        "NodeID": node_id,
        "DesiredState": desired,
        "UpdatedAt": updated,
        "Status": {"State": state, "Err": err, "Message": state},
    }


HOSTS = {"id-w1": "w1", "id-w2": "w2"}


@pytest.mark.parametrize(
    ("tasks", "running", "converged", "failing"),
    [
        ([task("a", 1), task("b", 2, node_id="id-w2")], 2, True, []),
        (
            [task("a", 1), task("b", 2, state="pending", err="no suitable node")],
            1,
            False,
            [("b", "no suitable node")],
        ),
        (
            [
                task("a", 1),
                task("b", 2, state="failed", desired="shutdown", err="exit 1", updated="2024-01-02"),
                task("c", 2, state="rejected", desired="shutdown", err="port taken", updated="2024-01-03"),
            ],
            1,
            False,
            [("c", "port taken")],  # newest failure per slot only
        ),
        # a slot that runs again hides its older failures
        (
            [
                task("a", 1),
                task("b", 2, node_id="id-w2"),
                task("c", 2, state="failed", desired="shutdown", err="x"),
            ],
            2,
            True,
            [],
        ),
        ([task("a", 1, state="shutdown", desired="shutdown"), task("b", 2)], 1, False, []),
    ],
)
def test_service_row_counts_and_failing_tasks(tasks, running, converged, failing):
    row = service_row(service(), tasks, HOSTS)
    assert row["running"] == running
    assert row["converged"] is converged
    assert [(t["task_id"], t["error"]) for t in row["failing_tasks"]] == failing


def test_global_service_desires_one_task_per_eligible_node():
    tasks = [task("a", 0, node_id="id-w1"), task("b", 0, node_id="id-w2", state="preparing")]
    row = service_row(service(mode={"Global": {}}), tasks, HOSTS)
    assert (row["mode"], row["desired"], row["running"]) == ("global", 2, 1)
    assert row["failing_tasks"][0]["node"] == "w2"


@pytest.mark.parametrize(
    ("update", "state"), [(None, "none"), ("completed", "completed"), ("paused", "paused")]
)
def test_update_state(update, state):
    assert service_row(service(update=update), [], HOSTS)["update_state"] == state


def test_summarize_healthy_cluster():
    nodes = [node("m1", "manager", leader=True), node("m2", "manager"), node("m3", "manager"), node("w1")]
    status = summarize(nodes, [service()], [task("a", 1), task("b", 2)])
    assert status["healthy"] is True
    assert status["problems"] == []
    assert [n["hostname"] for n in status["nodes"]] == ["m1", "m2", "m3", "w1"]
    assert status["quorum"]["reachable"] == 3 and status["quorum"]["majority"] == 2
    assert status["engine_versions"] == ["26.1.5"]


@pytest.mark.parametrize(
    ("nodes", "services", "tasks", "problem"),
    [
        ([node("m1", "manager", leader=True), node("w1", state="down")], [], [], "node w1 is down"),
        ([node("m1", "manager", leader=True), node("w1", availability="drain")], [], [], "node w1 is drain"),
        (
            [node("m1", "manager", leader=True), node("w1", version="20.10.24")],
            [],
            [],
            "different engine releases",
        ),
        ([node("m1", "manager", leader=True)], [service()], [task("a", 1)], "service web runs 1 of 2"),
        (
            [node("m1", "manager", leader=True)],
            [service(replicas=0, update="paused")],
            [],
            "update is paused",
        ),
        (
            [
                node("m1", "manager", leader=True),
                node("m2", "manager", reachable=False),
                node("m3", "manager"),
            ],
            [],
            [],
            "no margin",
        ),
        ([node("w1")], [], [], "no manager is listed"),
    ],
)
def test_summarize_problems(nodes, services, tasks, problem):
    status = summarize(nodes, services, tasks)
    assert status["healthy"] is False
    assert any(problem in p for p in status["problems"]), status["problems"]


@pytest.mark.parametrize(
    ("image", "short"),
    [
        ("app:1", "app:1"),
        ("app:1@sha256:" + "a" * 64, "app:1@sha256:aaaaaaaaaaaa"),
        ("", ""),
    ],
)
def test_short_image(image, short):
    assert short_image(image) == short


def test_table_lines():
    nodes = [node("m1", "manager", leader=True), node("w1")]
    status = summarize(
        nodes, [service()], [task("a", 1), task("b", 2, state="pending", err="no suitable node")]
    )
    lines = table_lines(status)
    assert lines[0].split() == ["NODE", "ROLE", "AVAILABILITY", "STATE", "MANAGER", "ENGINE"]
    assert lines[1].split() == ["m1", "*", "manager", "active", "ready", "reachable", "26.1.5"]
    assert any(line.startswith("quorum: 1 of 1 managers reachable, 1 needed; leader m1") for line in lines)
    assert any("web task b on w1: pending: no suitable node" in line for line in lines)
    assert "problems:" in lines
    empty = table_lines(summarize(nodes, [], []))
    assert "no services" in empty and empty[-1].startswith("problems") is False


ANSWER = {"item": "m2", "status": {"healthy": True, "problems": []}, "lines": ["NODE ..."]}
DOWN_ENGINE = {
    "item": "m1",
    "failed": True,
    "msg": "cannot read the swarm through unix:///var/run/docker.sock: refused",
}
HELD = {
    "held": True,
    "holder": {"owner_label": "ops@ctl (pid 7)", "run_id": "r1"},
    "progress": {"node": "m3", "step": "drain"},
    "error": "",
    "msg": "the cluster lock is held by ops@ctl (pid 7), run r1, held for 5s (upgrade.yml); at node m3",
}


@pytest.mark.parametrize(
    ("tries", "not_reached", "answered", "read_from", "unanswered"),
    [
        ([ANSWER], {}, True, "m2", {}),
        (
            [DOWN_ENGINE, ANSWER],
            {},
            True,
            "m2",
            {"m1": "its engine did not answer as a manager: " + DOWN_ENGINE["msg"]},
        ),
        (
            [ANSWER],
            {"m1": "ssh: connect to host m1 port 22: No route to host\n"},
            True,
            "m2",
            {"m1": "no answer over SSH: ssh: connect to host m1 port 22: No route to host"},
        ),
        (
            [DOWN_ENGINE],
            {"m3": None},
            False,
            "",
            {
                "m3": "no answer over SSH: unreachable",
                "m1": "its engine did not answer as a manager: " + DOWN_ENGINE["msg"],
            },
        ),
        ([], {}, False, "", {}),
    ],
)
def test_status_report_names_every_manager_that_did_not_answer(
    tries, not_reached, answered, read_from, unanswered
):
    report = status_report(tries, not_reached, HELD if answered else {})
    assert report["answered"] is answered
    assert report["read_from"] == read_from
    assert report["unanswered"] == unanswered
    if answered:
        assert report["status"]["unanswered"] == unanswered
        assert report["status"]["lock"]["progress"] == {"node": "m3", "step": "drain"}
        assert report["lines"][0] == "NODE ..."
        assert "lock: " + HELD["msg"] in report["lines"]
        assert [line for line in report["lines"] if line.startswith("not answering: ")] == [
            f"not answering: {host}: {why}" for host, why in unanswered.items()
        ]
    else:
        assert report["status"] == {} and report["lines"] == []


def test_status_report_stops_at_the_first_answer():
    later = dict(ANSWER, item="m3")
    report = status_report([ANSWER, later], {}, {})
    assert report["read_from"] == "m2"
    assert "lock: not read" in report["lines"]
