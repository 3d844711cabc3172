# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.node_readiness import evaluate, find


def node(
    node_id, role="worker", state="ready", version="26.1.5", reachable="reachable", leader=False, message=""
):
    data = {
        "ID": node_id,
        "Description": {"Hostname": node_id.upper(), "Engine": {"EngineVersion": version}},
        "Spec": {"Role": role, "Availability": "drain"},
        "Status": {"State": state, "Message": message},
    }
    if role == "manager":
        data["ManagerStatus"] = {"Reachability": reachable, "Leader": leader}
    return data


def cluster(**changes):
    nodes = {
        "m1": node("m1", "manager", leader=True),
        "m2": node("m2", "manager"),
        "m3": node("m3", "manager"),
        "w1": node("w1"),
    }
    for name, override in changes.items():
        nodes[name] = override
    return list(nodes.values())


@pytest.mark.parametrize(
    ("nodes", "name", "target", "ready", "waiting"),
    [
        (cluster(), "w1", "26.1.5", True, []),
        (cluster(), "W1", "26.1.5", True, []),  # by hostname
        (cluster(), "w1", None, True, []),
        (
            cluster(w1=node("w1", version="20.10.24+dfsg1")),
            "w1",
            "26.1.5",
            False,
            ["report 26.1.5 (it reports 20.10.24"],
        ),
        (cluster(w1=node("w1", version="")), "w1", "26.1.5", False, ["reports nothing yet"]),
        (
            cluster(w1=node("w1", state="down", message="heartbeat failure")),
            "w1",
            None,
            False,
            ["it is down (heartbeat failure)"],
        ),
        (
            cluster(m3=node("m3", "manager", reachable="unreachable")),
            "m3",
            "26.1.5",
            False,
            ["reachable in Raft"],
        ),
        (
            cluster(m1=node("m1", "manager", reachable="unreachable", leader=True)),
            "w1",
            None,
            False,
            ["a leader to be elected"],
        ),
        (
            cluster(
                m2=node("m2", "manager", reachable="unreachable"),
                m3=node("m3", "manager", reachable="unreachable"),
            ),
            "w1",
            None,
            False,
            ["quorum (1 of 3"],
        ),
        (cluster(), "w9", None, False, ["appear in the swarm's node list"]),
        (cluster(w1=node("w1", version="not-a-version")), "w1", "26.1.5", False, ["report 26.1.5"]),
    ],
)
def test_evaluate(nodes, name, target, ready, waiting):
    verdict = evaluate(nodes, name, target)
    assert verdict.ready is ready
    assert len(verdict.waiting_for) == len(waiting)
    for expected, got in zip(waiting, verdict.waiting_for, strict=True):
        assert expected in got


def test_evaluate_reports_leader_and_view():
    verdict = evaluate(cluster(), "m2", "26.1.5")
    assert verdict.leader == "M1"
    assert verdict.node["availability"] == "drain"
    assert verdict.engine_version == "26.1.5"


def test_find_refuses_ambiguous_hostnames():
    twins = [node("a"), dict(node("b"), Description={"Hostname": "A"})]
    assert find(twins, "A") is None
    assert find(twins, "b")["ID"] == "b"


def with_version(data, index):
    data["Version"] = {"Index": index}
    return data


@pytest.mark.parametrize(
    ("index", "restarted_after", "ready"),
    [
        (50, 0, True),  # no restart to prove
        (50, 50, False),  # record unchanged since the restart began: the engine has not come back yet
        (49, 50, False),
        (51, 50, True),  # re-registered after the restart
    ],
)
def test_a_restart_is_proven_by_a_newer_node_record(index, restarted_after, ready):
    nodes = cluster(w1=with_version(node("w1"), index))
    verdict = evaluate(nodes, "w1", "26.1.5", restarted_after)
    assert verdict.ready is ready
    assert verdict.node["record_version"] == index
    if not ready:
        assert any("register with the managers" in w for w in verdict.waiting_for)
