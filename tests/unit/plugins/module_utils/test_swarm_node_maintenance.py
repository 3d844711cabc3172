# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_node_maintenance import (
    NodeError,
    find_node,
    managers_of,
    node_view,
    plan_node_spec,
    quorum_dict,
)


def node(node_id, hostname, role="worker", reachable=True, leader=False, labels=None):
    data = {
        "ID": node_id,
        "Description": {"Hostname": hostname},
        "Spec": {"Role": role, "Availability": "active", "Labels": labels or {}},
        "Status": {"State": "ready", "Addr": "10.0.0.1"},
    }
    if role == "manager":
        data["ManagerStatus"] = {
            "Reachability": "reachable" if reachable else "unreachable",
            "Leader": leader,
        }
    return data


NODES = [
    node("abc123", "m1", role="manager", leader=True),
    node("abd456", "m2", role="manager"),
    node("xyz789", "w1", labels={"zone": "a"}),
    node("dup1", "twin"),
    node("dup2", "twin"),
]


@pytest.mark.parametrize(("name", "node_id"), [("abc123", "abc123"), ("m2", "abd456"), ("xyz", "xyz789")])
def test_find_node_by_id_hostname_or_unique_prefix(name, node_id):
    assert find_node(NODES, name)["ID"] == node_id


def test_find_node_ambiguous_or_missing():
    with pytest.raises(NodeError, match="matches several nodes"):
        find_node(NODES, "twin")
    with pytest.raises(NodeError, match="no swarm node is called ab; the swarm has: m1, m2, twin, twin, w1"):
        find_node(NODES, "ab")  # an ambiguous ID prefix is not guessed


def test_node_view():
    view = node_view(NODES[0])
    assert view == {
        "id": "abc123",
        "hostname": "m1",
        "role": "manager",
        "availability": "active",
        "labels": {},
        "state": "ready",
        "manager_reachability": "reachable",
        "leader": True,
    }
    assert node_view({"ID": "x"})["role"] == "worker"


def test_plan_node_spec_keeps_everything_else():
    spec = {"Role": "worker", "Availability": "active", "Labels": {"zone": "a"}, "Name": "w1"}
    new, changes = plan_node_spec(spec, "drain", None)
    assert new == dict(spec, Availability="drain")
    assert changes == {"availability": ("active", "drain")}
    assert spec["Availability"] == "active"  # not mutated


def test_plan_node_spec_no_change_and_role_change():
    spec = {"Role": "manager", "Availability": "drain"}
    assert plan_node_spec(spec, "drain", "manager")[1] == {}
    new, changes = plan_node_spec(spec, None, "worker")
    assert new["Role"] == "worker" and changes == {"role": ("manager", "worker")}
    # a spec without the fields reads as the engine's defaults
    assert plan_node_spec({}, "active", "worker")[1] == {}


def test_quorum_dict_is_json_ready():
    summary = quorum_dict(NODES[:2] + [node("m3", "m3", role="manager", reachable=False)])
    assert summary["managers"] == 3 and summary["reachable"] == 2 and summary["can_lose"] == 0
    assert summary["unreachable"] == ["m3"]
    assert isinstance(summary["warnings"], list)
    assert quorum_dict([node("w", "w")]) == {}
    assert [m.hostname for m in managers_of(NODES)] == ["m1", "m2"]
