# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.service_placement import (
    add_to_plan,
    node_matches,
    parse_constraint,
    placeable,
    unmovable_services,
)


def node(node_id, role="worker", labels=None, engine_labels=None, state="ready", availability="active"):
    return {
        "ID": node_id,
        "Description": {
            "Hostname": f"host-{node_id}",
            "Platform": {"OS": "linux", "Architecture": "x86_64"},
            "Engine": {"Labels": dict(engine_labels or {})},
        },
        "Spec": {"Role": role, "Availability": availability, "Labels": dict(labels or {})},
        "Status": {"State": state},
    }


NODES = [
    node("m1", "manager", labels={"zone": "a"}),
    node("m2", "manager", labels={"zone": "b", "disk": "ssd"}),
    node("m3", "manager", labels={"zone": "c"}),
    node("w1", labels={"zone": "a", "gpu": "yes"}, engine_labels={"storage": "nvme"}),
]


def service(name, replicas=2, constraints=(), max_replicas=0, mode=None):
    placement = {"Constraints": list(constraints)}
    if max_replicas:
        placement["MaxReplicas"] = max_replicas
    return {
        "ID": f"id-{name}",
        "Spec": {
            "Name": name,
            "Mode": mode or {"Replicated": {"Replicas": replicas}},
            "TaskTemplate": {"Placement": placement},
        },
    }


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("node.hostname==m1", ("node.hostname", "==", "m1")),
        ("node.labels.zone != a", ("node.labels.zone", "!=", "a")),
        (" engine.labels.storage == nvme ", ("engine.labels.storage", "==", "nvme")),
    ],
)
def test_parse_constraint(text, parsed):
    assert parse_constraint(text) == parsed


@pytest.mark.parametrize("text", ["node.hostname", "==m1", "node.role==", "node.role=manager"])
def test_parse_constraint_refuses_what_is_not_one(text):
    with pytest.raises(ValueError, match="not a placement constraint"):
        parse_constraint(text)


@pytest.mark.parametrize(
    ("constraints", "matching"),
    [
        ([], ["m1", "m2", "m3", "w1"]),
        (["node.hostname==host-m2"], ["m2"]),
        (["node.hostname==HOST-M2"], ["m2"]),  # values compare without regard to case
        (["node.hostname!=host-m2"], ["m1", "m3", "w1"]),
        (["node.id==w1"], ["w1"]),
        (["node.role==manager"], ["m1", "m2", "m3"]),
        (["node.role!=manager"], ["w1"]),
        (["node.labels.zone==a"], ["m1", "w1"]),
        (["node.labels.disk==ssd"], ["m2"]),
        (["node.labels.disk!=ssd"], ["m1", "m3", "w1"]),  # a missing label matches != only
        (["engine.labels.storage==nvme"], ["w1"]),
        (["node.platform.os==linux", "node.platform.arch==x86_64"], ["m1", "m2", "m3", "w1"]),
        (["node.labels.zone==a", "node.role==manager"], ["m1"]),
        (["node.some.future.key==x"], ["m1", "m2", "m3", "w1"]),  # unknown keys do not exclude
    ],
)
def test_node_matches(constraints, matching):
    assert [n["ID"] for n in NODES if node_matches(n, constraints)] == matching


@pytest.mark.parametrize(
    ("replicas", "max_replicas", "nodes", "expected"),
    [(3, 0, 1, 3), (3, 0, 0, 0), (3, 1, 2, 2), (3, 2, 2, 3), (4, 1, 4, 4)],
)
def test_placeable(replicas, max_replicas, nodes, expected):
    assert placeable(replicas, max_replicas, nodes) == expected


ONE_BY_ONE = [(n["ID"], [n["ID"]]) for n in NODES]


@pytest.mark.parametrize(
    ("svc", "nodes", "drained_sets", "hit"),
    [
        # pinned to one node by hostname, ID or a label only it has: draining it stops the service
        (service("db", 1, ["node.hostname==host-m2"]), NODES, ONE_BY_ONE, ["m2"]),
        (service("db", 1, ["node.id==w1"]), NODES, ONE_BY_ONE, ["w1"]),
        (service("db", 1, ["node.labels.disk==ssd"]), NODES, ONE_BY_ONE, ["m2"]),
        (service("db", 1, ["engine.labels.storage==nvme"]), NODES, ONE_BY_ONE, ["w1"]),
        # two nodes meet it: either may be drained alone, not both together
        (service("web", 2, ["node.labels.zone==a"]), NODES, ONE_BY_ONE, []),
        (service("web", 2, ["node.labels.zone==a"]), NODES, [("m1, w1", ["m1", "w1"])], ["m1, w1"]),
        # max_replicas 1 with as many replicas as eligible nodes: every drain costs one
        (service("web", 4, max_replicas=1), NODES, ONE_BY_ONE, ["m1", "m2", "m3", "w1"]),
        (service("web", 3, max_replicas=1), NODES, ONE_BY_ONE, []),
        (service("web", 3, ["node.role==manager"], max_replicas=1), NODES, ONE_BY_ONE, ["m1", "m2", "m3"]),
        (service("web", 3, ["node.role!=manager"], max_replicas=2), NODES, ONE_BY_ONE, ["w1"]),
        # global services, jobs and services scaled to zero are excepted
        (service("agent", mode={"Global": {}}, constraints=["node.id==w1"]), NODES, ONE_BY_ONE, []),
        (service("batch", mode={"ReplicatedJob": {}}, constraints=["node.id==w1"]), NODES, ONE_BY_ONE, []),
        (service("idle", 0, ["node.id==w1"]), NODES, ONE_BY_ONE, []),
        # nodes that take no tasks do not count as somewhere to go
        (
            service("web", 1, ["node.labels.zone==a"]),
            [NODES[0], node("w1", labels={"zone": "a"}, availability="drain")],
            [("m1", ["m1"])],
            ["m1"],
        ),
        (
            service("web", 1, ["node.labels.zone==a"]),
            [NODES[0], node("w1", labels={"zone": "a"}, state="down")],
            [("m1", ["m1"])],
            ["m1"],
        ),
        # already short before any drain (no node meets it): a drain takes nothing away
        (service("ghost", 1, ["node.labels.zone==z"]), NODES, ONE_BY_ONE, []),
    ],
)
def test_unmovable_services(svc, nodes, drained_sets, hit):
    found = unmovable_services([svc], nodes, drained_sets)
    assert [b["label"] for entry in found for b in entry["batches"]] == hit


def test_reasons_name_the_service_the_nodes_and_why():
    pinned, spread = unmovable_services(
        [service("db", 1, ["node.hostname==host-m2"]), service("web", 4, max_replicas=1)], NODES, ONE_BY_ONE
    )
    assert pinned["reason"] == (
        "service db (1 replica(s)) cannot run them all while m2 is drained: its placement constraints "
        "(node.hostname==host-m2) match no other node that takes tasks; at worst 0 of 1 run"
    )
    assert spread["reason"] == (
        "service web (4 replica(s)) cannot run them all while m1, m2, m3, w1 is drained: max_replicas 1 "
        "per node on the 3 other eligible node(s) leaves room for 3; at worst 3 of 4 run"
    )


@pytest.mark.parametrize("allow", [False, True])
def test_add_to_plan_refuses_unless_allowed(allow):
    plan = {
        "nodes": {"m2": {"node_id": "m2"}, "w1": {"node_id": "w1"}},
        "batches": [{"nodes": ["m2"]}, {"nodes": ["w1"]}],
        "errors": [],
        "warnings": [],
    }
    add_to_plan(plan, [service("db", 1, ["node.hostname==host-m2"])], NODES, allow)
    assert [u["service"] for u in plan["unmovable"]] == ["db"]
    if allow:
        assert plan["errors"] == []
        assert "accepted" in plan["warnings"][0]
    else:
        assert plan["warnings"] == []
        assert "service db" in plan["errors"][0]
        assert "flotilla_upgrade_allow_unmovable_services=true" in plan["errors"][0]


def test_add_to_plan_with_movable_services_changes_nothing():
    plan = {"nodes": {"m2": {"node_id": "m2"}}, "batches": [{"nodes": ["m2"]}], "errors": [], "warnings": []}
    add_to_plan(plan, [service("web", 2)], NODES, False)
    assert plan == {
        "nodes": {"m2": {"node_id": "m2"}},
        "batches": [{"nodes": ["m2"]}],
        "errors": [],
        "warnings": [],
        "unmovable": [],
    }
