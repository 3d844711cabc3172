# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import json

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_nodes import (
    MANAGED_LABELS_KEY,
    DesiredNode,
    PlanError,
    label_value,
    locked_refusal,
    managed_keys,
    node_summary,
    plan_labels,
    plan_nodes,
    visible_labels,
)


def record(*keys):
    return json.dumps(sorted(keys), separators=(",", ":"))


def node(node_id, role="worker", availability="active", labels=None, reachable=True, leader=False, version=7):
    data = {
        "ID": node_id,
        "Version": {"Index": version},
        "Description": {"Hostname": f"host-{node_id}"},
        "Spec": {"Role": role, "Availability": availability, "Labels": dict(labels or {}), "Name": ""},
        "Status": {"State": "ready", "Addr": "10.0.0.1"},
    }
    if role == "manager":
        data["ManagerStatus"] = {
            "Reachability": "reachable" if reachable else "unreachable",
            "Leader": leader,
            "Addr": "10.0.0.1:2377",
        }
    return data


@pytest.mark.parametrize(
    ("current", "desired", "exclusive", "expected"),
    [
        pytest.param({}, {}, False, {}, id="nothing-wanted-nothing-recorded"),
        pytest.param({}, {"zone": "a"}, False, {"zone": "a", MANAGED_LABELS_KEY: record("zone")}, id="add"),
        pytest.param(
            {"zone": "a", MANAGED_LABELS_KEY: record("zone")},
            {"zone": "b"},
            False,
            {"zone": "b", MANAGED_LABELS_KEY: record("zone")},
            id="change",
        ),
        pytest.param(
            {"zone": "a", "disk": "ssd", MANAGED_LABELS_KEY: record("disk", "zone")},
            {"zone": "a"},
            False,
            {"zone": "a", MANAGED_LABELS_KEY: record("zone")},
            id="remove-one-flotilla-set",
        ),
        pytest.param(
            {"zone": "a", MANAGED_LABELS_KEY: record("zone")},
            {},
            False,
            {},
            id="remove-all-flotilla-set-drops-record",
        ),
        pytest.param(
            {"zone": "a", "by-hand": "x", MANAGED_LABELS_KEY: record("zone")},
            {},
            False,
            {"by-hand": "x"},
            id="hand-made-label-kept",
        ),
        pytest.param(
            {"zone": "a", "by-hand": "x", MANAGED_LABELS_KEY: record("zone")},
            {"zone": "a"},
            True,
            {"zone": "a", MANAGED_LABELS_KEY: record("zone")},
            id="exclusive-removes-hand-made",
        ),
        pytest.param({"by-hand": "x"}, {}, True, {}, id="exclusive-empty-clears"),
        pytest.param(
            {"zone": "a"},
            {"zone": "a"},
            False,
            {"zone": "a", MANAGED_LABELS_KEY: record("zone")},
            id="adopt-existing-label",
        ),
        pytest.param(
            {"zone": "a", MANAGED_LABELS_KEY: "not json"},
            {},
            False,
            {"zone": "a"},
            id="damaged-record-removes-nothing",
        ),
        pytest.param(
            {},
            {"web": True, "count": 3, "off": False},
            False,
            {"web": "true", "count": "3", "off": "false", MANAGED_LABELS_KEY: record("count", "off", "web")},
            id="values-become-strings",
        ),
    ],
)
def test_plan_labels(current, desired, exclusive, expected):
    assert plan_labels(current, desired, exclusive) == expected


def test_plan_labels_refuses_bookkeeping_key():
    with pytest.raises(PlanError, match="bookkeeping"):
        plan_labels({}, {MANAGED_LABELS_KEY: "x"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, set()), ("", set()), ("[1, 2]", set()), ('{"a": 1}', set()), ('["a", "b"]', {"a", "b"})],
)
def test_managed_keys(value, expected):
    assert managed_keys(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(True, "true"), (False, "false"), (None, ""), (3, "3"), ("x", "x"), (1.5, "1.5")]
)
def test_label_value(value, expected):
    assert label_value(value) == expected


def cluster():
    return [
        node("m1", "manager", leader=True, labels={"zone": "a", MANAGED_LABELS_KEY: record("zone")}),
        node("m2", "manager", labels={"zone": "b", MANAGED_LABELS_KEY: record("zone")}),
        node("m3", "manager", labels={"zone": "c", MANAGED_LABELS_KEY: record("zone")}),
        node("w1", labels={"zone": "a", MANAGED_LABELS_KEY: record("zone")}),
    ]


def wanted(**overrides):
    base = {
        "m1": DesiredNode("m1", "m1", "manager", {"zone": "a"}, "active"),
        "m2": DesiredNode("m2", "m2", "manager", {"zone": "b"}, "active"),
        "m3": DesiredNode("m3", "m3", "manager", {"zone": "c"}, "active"),
        "w1": DesiredNode("w1", "w1", "worker", {"zone": "a"}, "active"),
    }
    base.update(overrides)
    return list(base.values())


def test_converged_cluster_needs_no_update():
    plan = plan_nodes(cluster(), wanted())
    assert plan.updates == []
    assert plan.unmanaged == []


def test_changes_are_described_and_specs_kept_whole():
    nodes = cluster()
    nodes[3]["Spec"]["Name"] = "kept"
    plan = plan_nodes(
        nodes, wanted(w1=DesiredNode("w1", "w1", "worker", {"zone": "b", "disk": "ssd"}, "drain"))
    )
    [update] = plan.updates
    assert update.node_id == "w1"
    assert update.version == 7
    assert update.changes == [
        "availability active -> drain",
        "label disk=ssd added",
        "label zone changed from a to b",
    ]
    assert update.spec["Name"] == "kept"
    assert update.spec["Labels"] == {"zone": "b", "disk": "ssd", MANAGED_LABELS_KEY: record("disk", "zone")}
    assert update.before["labels"] == {"zone": "a"}
    assert update.after["labels"] == {"zone": "b", "disk": "ssd"}


def test_empty_availability_leaves_it():
    nodes = cluster()
    nodes[3]["Spec"]["Availability"] = "drain"
    plan = plan_nodes(nodes, wanted(w1=DesiredNode("w1", "w1", "worker", {"zone": "a"}, "")))
    assert plan.updates == []


def test_bookkeeping_only_change_is_reported():
    nodes = cluster()
    nodes[3]["Spec"]["Labels"] = {"zone": "a"}
    [update] = plan_nodes(nodes, wanted()).updates
    assert update.changes == ["flotilla's record of managed labels updated"]


def test_unlisted_nodes_are_left_alone_and_reported():
    nodes = [*cluster(), node("x9", labels={"anything": "1"})]
    plan = plan_nodes(nodes, wanted())
    assert plan.updates == []
    assert plan.unmanaged == ["host-x9"]


def test_promotions_first_demotions_last():
    nodes = [*cluster(), node("w2")]
    desired = wanted(
        m3=DesiredNode("m3", "m3", "worker", {"zone": "c"}, "active"),
        w1=DesiredNode("w1", "w1", "worker", {"zone": "z"}, "active"),
    ) + [DesiredNode("w2", "w2", "manager", {}, "active")]
    plan = plan_nodes(nodes, desired)
    assert [u.name for u in plan.updates] == ["w2", "w1", "m3"]
    assert plan.updates[0].spec["Role"] == "manager"
    assert plan.updates[-1].spec["Role"] == "worker"


def test_demotion_refused_when_quorum_would_be_lost():
    nodes = cluster()
    nodes[2]["ManagerStatus"]["Reachability"] = "unreachable"
    desired = wanted(m2=DesiredNode("m2", "m2", "worker", {"zone": "b"}, "active"))
    with pytest.raises(PlanError, match="refusing to demote"):
        plan_nodes(nodes, desired)


def test_second_demotion_checked_against_the_first():
    # Each demotion is checked against the managers left by the ones before it: the first two
    # pass (3 -> 2 -> 1), the third would remove the only manager left.
    desired = wanted(
        m2=DesiredNode("m2", "m2", "worker", {"zone": "b"}, "active"),
        m3=DesiredNode("m3", "m3", "worker", {"zone": "c"}, "active"),
        m1=DesiredNode("m1", "m1", "worker", {"zone": "a"}, "active"),
    )
    with pytest.raises(PlanError, match="only manager"):
        plan_nodes(cluster(), desired)


def test_demoting_the_leader_warns():
    desired = wanted(m1=DesiredNode("m1", "m1", "worker", {"zone": "a"}, "active"))
    plan = plan_nodes(cluster(), desired)
    assert [u.name for u in plan.updates] == ["m1"]
    assert any("election" in warning for warning in plan.warnings)


@pytest.mark.parametrize(
    ("desired", "message"),
    [
        (DesiredNode("w1", "nope", "worker"), "not in this swarm"),
        (DesiredNode("w1", "w1", "boss"), "role must be"),
        (DesiredNode("w1", "w1", "worker", {}, "sleep"), "availability must be"),
        (DesiredNode("w1", "w1", "worker", ["a"]), "labels must be a mapping"),
    ],
)
def test_bad_desired_nodes(desired, message):
    with pytest.raises(PlanError, match=message):
        plan_nodes(cluster(), [desired])


def test_same_node_twice():
    with pytest.raises(PlanError, match="two inventory hosts"):
        plan_nodes(cluster(), [DesiredNode("a", "w1", "worker"), DesiredNode("b", "w1", "worker")])


def test_node_summary_hides_bookkeeping():
    summary = node_summary(cluster()[0])
    assert summary == {
        "id": "m1",
        "hostname": "host-m1",
        "role": "manager",
        "availability": "active",
        "state": "ready",
        "addr": "10.0.0.1",
        "reachability": "reachable",
        "leader": True,
        "labels": {"zone": "a"},
    }
    assert visible_labels(None) == {}


HELD = "the cluster lock is held by ops@ctl (pid 7), run r1, held for 2m00s (upgrade.yml: m2)"


@pytest.mark.parametrize(
    ("overrides", "locked_by", "refused"),
    [
        ({}, "", False),
        ({}, HELD, False),  # a converged re-run needs no lock
        ({"w1": DesiredNode("w1", "w1", "worker", {"zone": "a"}, "drain")}, "", False),
        ({"w1": DesiredNode("w1", "w1", "worker", {"zone": "a"}, "drain")}, HELD, True),
        ({"w1": DesiredNode("w1", "w1", "manager", {"zone": "a"}, "active")}, HELD, True),
        ({"m3": DesiredNode("m3", "m3", "manager", {"zone": "z"}, "active")}, HELD, True),
    ],
)
def test_locked_refusal(overrides, locked_by, refused):
    plan = plan_nodes(cluster(), wanted(**overrides))
    message = locked_refusal(plan, locked_by)
    assert bool(message) is refused
    if refused:
        assert message.startswith(HELD)
        [changed] = overrides
        assert f"this run would change {changed}: " in message
        assert "docker config rm flotilla-lock" in message
