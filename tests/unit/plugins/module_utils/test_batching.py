# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import json

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.batching import (
    PlanNode,
    parse_batch_size,
    plan_upgrade,
)


@pytest.mark.parametrize(
    ("value", "total", "expected"),
    [
        pytest.param(1, 10, 1, id="int"),
        pytest.param(3, 10, 3, id="int-3"),
        pytest.param("2", 10, 2, id="numeric-string"),
        pytest.param(" 4 ", 10, 4, id="padded-string"),
        pytest.param(25, 10, 10, id="int-capped-to-total"),
        pytest.param("30%", 10, 3, id="30pct-exact"),
        pytest.param("33%", 10, 4, id="33pct-rounds-up"),
        pytest.param("1%", 10, 1, id="1pct-minimum-1"),
        pytest.param("1%", 1000, 10, id="1pct-of-1000"),
        pytest.param("100%", 10, 10, id="100pct"),
        pytest.param("50%", 3, 2, id="50pct-of-3-rounds-up"),
        pytest.param("33%", 3, 1, id="33pct-of-3"),
        pytest.param("34%", 3, 2, id="34pct-of-3"),
        pytest.param("10 %", 10, 1, id="space-before-percent"),
        pytest.param("30%", 0, 1, id="no-nodes-still-valid"),
        pytest.param(5, 0, 1, id="int-no-nodes"),
    ],
)
def test_parse_batch_size(value, total, expected):
    assert parse_batch_size(value, total) == expected


@pytest.mark.parametrize(
    "bad",
    [
        0,
        -1,
        "0",
        "-1",
        "0%",
        "101%",
        "-5%",
        "150%",
        "abc",
        "",
        "%",
        "1.5",
        "2.5%",
        2.0,
        None,
        True,
        False,
        [3],
    ],
)
@pytest.mark.parametrize("total", [0, 10])
def test_parse_batch_size_rejects(bad, total):
    with pytest.raises(ValueError) as caught:
        parse_batch_size(bad, total)
    message = str(caught.value)
    assert repr(bad) in message  # names the value
    assert "1% to 100%" in message and "at least 1" in message  # and what is allowed


@pytest.mark.parametrize("total", [-1, None, True, 2.0])
def test_parse_batch_size_rejects_bad_totals(total):
    with pytest.raises(ValueError, match="node count"):
        parse_batch_size(1, total)


def swarm(managers=3, workers=4, leader="m1", versions=None):
    versions = versions or {}
    nodes = [
        PlanNode(f"m{i}", "manager", versions.get(f"m{i}"), leader=f"m{i}" == leader)
        for i in range(1, managers + 1)
    ]
    nodes += [PlanNode(f"w{i}", "worker", versions.get(f"w{i}")) for i in range(1, workers + 1)]
    return nodes


# (nodes, batch size, expected batches as lists of names)
ORDER_CASES = [
    pytest.param(
        swarm(3, 4, leader="m1"),
        2,
        [["m2"], ["m3"], ["m1"], ["w1", "w2"], ["w3", "w4"]],
        id="leader-last-then-workers-by-2",
    ),
    pytest.param(
        swarm(3, 4, leader="m2"),
        "50%",
        [["m1"], ["m3"], ["m2"], ["w1", "w2"], ["w3", "w4"]],
        id="leader-in-the-middle-moves-last",
    ),
    pytest.param(swarm(1, 0), 1, [["m1"]], id="single-manager-no-workers"),
    pytest.param(swarm(3, 0), "30%", [["m2"], ["m3"], ["m1"]], id="empty-worker-list"),
    pytest.param(
        swarm(5, 3, leader=None),
        1,
        [["m1"], ["m2"], ["m3"], ["m4"], ["m5"], ["w1"], ["w2"], ["w3"]],
        id="no-known-leader-keeps-order",
    ),
    pytest.param(swarm(2, 5), 2, [["m2"], ["m1"], ["w1", "w2"], ["w3", "w4"], ["w5"]], id="short-last-batch"),
    pytest.param(
        swarm(3, 10),
        "33%",
        [["m2"], ["m3"], ["m1"], ["w1", "w2", "w3", "w4"], ["w5", "w6", "w7", "w8"], ["w9", "w10"]],
        id="33pct-of-10",
    ),
    pytest.param(swarm(0, 3), "1%", [["w1"], ["w2"], ["w3"]], id="1pct-workers-only"),
    pytest.param([], 1, [], id="no-nodes"),
    pytest.param(
        [
            PlanNode("a1", "agent"),
            PlanNode("s1", "server"),
            PlanNode("a2", "agent"),
            PlanNode("s2", "server"),
        ],
        2,
        [["s1"], ["s2"], ["a1", "a2"]],
        id="k3s-servers-before-agents-whatever-the-inventory-order",
    ),
]


@pytest.mark.parametrize(("nodes", "size", "expected"), ORDER_CASES)
def test_plan_order(nodes, size, expected):
    plan = plan_upgrade(nodes, size)
    assert [list(b.nodes) for b in plan.batches] == expected
    assert [b.number for b in plan.batches] == list(range(1, len(expected) + 1))
    assert plan.skipped == ()
    # Control-plane batches always hold exactly one node.
    assert all(len(b.nodes) == 1 for b in plan.batches if b.role in ("manager", "server"))


# (versions reported, expected batches, expected skipped names)
RESUME_CASES = [
    pytest.param({}, [["m2"], ["m3"], ["m1"], ["w1", "w2"], ["w3", "w4"]], [], id="nothing-known"),
    pytest.param(
        {"m2": "26.1.5", "m3": "26.1.5", "w1": "26.1.5", "w2": "26.1.4"},
        [["m1"], ["w2", "w3"], ["w4"]],
        ["m2", "m3", "w1"],
        id="resume-after-partial-run",
    ),
    pytest.param(
        {"m1": "26.1.5", "m2": "24.0.7", "m3": "20.10.24+dfsg1"},
        [["m2"], ["m3"], ["w1", "w2"], ["w3", "w4"]],
        ["m1"],
        id="leader-already-done",
    ),
    pytest.param(
        dict.fromkeys(["m1", "m2", "m3", "w1", "w2", "w3", "w4"], "26.1.5+dfsg1"),
        [],
        ["m1", "m2", "m3", "w1", "w2", "w3", "w4"],
        id="all-done-build-metadata-ignored",
    ),
]


@pytest.mark.parametrize(("versions", "expected", "skipped"), RESUME_CASES)
def test_plan_skips_nodes_already_on_target(versions, expected, skipped):
    plan = plan_upgrade(swarm(3, 4, versions=versions), 2, "26.1.5")
    assert [list(b.nodes) for b in plan.batches] == expected
    assert [s.name for s in plan.skipped] == skipped
    assert all(s.reason == "already runs 26.1.5" for s in plan.skipped)
    # The batch size stays what a full run would use, so a resumed plan looks like the first one.
    assert plan.worker_batch_size == 2


def test_percentage_resolves_against_all_workers_not_only_pending():
    versions = {f"w{i}": "26.1.5" for i in range(1, 8)}
    plan = plan_upgrade(swarm(1, 10, versions=versions), "30%", "26.1.5")
    assert plan.worker_batch_size == 3
    assert [list(b.nodes) for b in plan.batches] == [["m1"], ["w8", "w9", "w10"]]


def test_newer_node_is_skipped_and_warned_about():
    plan = plan_upgrade(swarm(3, 2, versions={"w2": "27.0.0"}), 1, "26.1.5")
    assert "w2" not in plan.pending
    assert [s.name for s in plan.skipped] == ["w2"]
    assert "do not downgrade" in plan.skipped[0].reason
    assert any("w2" in w and "newer" in w for w in plan.warnings)


def test_without_target_nothing_is_skipped():
    plan = plan_upgrade(swarm(3, 2, versions={"m1": "26.1.5", "w1": "26.1.5"}), 1)
    assert plan.skipped == ()
    assert plan.pending == ("m2", "m3", "m1", "w1", "w2")
    assert plan.target_version is None


@pytest.mark.parametrize(
    ("workers", "size", "warns"),
    [(4, "100%", True), (4, 10, True), (4, 3, False), (1, "100%", False), (0, "100%", False)],
)
def test_warns_when_a_batch_drains_every_worker(workers, size, warns):
    plan = plan_upgrade(swarm(3, workers), size)
    assert any("covers all" in w for w in plan.warnings) is warns


def test_plan_accepts_dicts_and_is_json_ready():
    nodes = [
        {"name": "m1", "role": "manager", "version": "26.1.4", "leader": True},
        {"name": "m2", "role": "manager", "version": "26.1.5"},
        {"name": "w1", "role": "worker"},
    ]
    data = plan_upgrade(nodes, "100%", "26.1.5").as_dict()
    assert json.loads(json.dumps(data)) == {
        "target_version": "26.1.5",
        "worker_batch_size": 1,
        "batches": [
            {"number": 1, "role": "manager", "nodes": ["m1"]},
            {"number": 2, "role": "worker", "nodes": ["w1"]},
        ],
        "skipped": [{"name": "m2", "role": "manager", "reason": "already runs 26.1.5"}],
        "pending": ["m1", "w1"],
        "warnings": [],
    }


def test_plan_lines_for_check_mode():
    plan = plan_upgrade(swarm(2, 3, versions={"w3": "26.1.5"}), 2, "26.1.5")
    assert plan.lines() == [
        "4 node(s) in 3 batch(es) to 26.1.5",
        "batch 1 (manager): m2",
        "batch 2 (manager): m1",
        "batch 3 (worker): w1, w2",
        "skip w3 (worker): already runs 26.1.5",
    ]


@pytest.mark.parametrize(
    ("nodes", "kwargs", "fragment"),
    [
        pytest.param([PlanNode("a", "manager"), PlanNode("a", "worker")], {}, "listed twice", id="duplicate"),
        pytest.param([PlanNode("a", "boss")], {}, "has role 'boss'", id="bad-role"),
        pytest.param([PlanNode("", "worker")], {}, "must not be empty", id="empty-name"),
        pytest.param(
            [PlanNode("a", "manager", leader=True), PlanNode("b", "manager", leader=True)],
            {},
            "more than one",
            id="two-leaders",
        ),
        pytest.param([PlanNode("w", "worker", leader=True)], {}, "not a manager", id="worker-leader"),
        pytest.param([{"name": "a"}], {}, "needs 'name' and 'role'", id="dict-missing-role"),
        pytest.param([{"name": "a", "role": "worker", "ip": "x"}], {}, "unknown node field", id="dict-extra"),
        pytest.param(["a"], {}, "PlanNode or a dict", id="wrong-type"),
        pytest.param(swarm(1, 1), {"target_version": "26.1"}, "upstream release", id="bad-target"),
        pytest.param(swarm(1, 1), {"batch_size": "0%"}, "batch size", id="bad-batch"),
        pytest.param(swarm(1, 0), {"batch_size": "abc"}, "batch size", id="bad-batch-without-workers"),
        pytest.param(
            [PlanNode("w", "worker", "banana")],
            {"target_version": "26.1.5"},
            "node 'w'",
            id="bad-node-version",
        ),
    ],
)
def test_plan_rejects_bad_input(nodes, kwargs, fragment):
    with pytest.raises(ValueError) as caught:
        plan_upgrade(nodes, **kwargs)
    assert fragment in str(caught.value)
