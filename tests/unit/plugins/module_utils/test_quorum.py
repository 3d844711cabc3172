# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.quorum import (
    Manager,
    check_action,
    majority,
    manager_from_api,
    quorum_summary,
    tolerated_failures,
)


def cluster(n, unreachable=(), leader="m1"):
    """Managers m1..mn; ``unreachable`` lists names that are not reachable."""
    return [
        Manager(
            node_id=f"m{i}",
            reachable=f"m{i}" not in unreachable,
            leader=f"m{i}" == leader,
            hostname=f"host{i}",
        )
        for i in range(1, n + 1)
    ]


@pytest.mark.parametrize(
    ("n", "expected_majority", "expected_tolerated"),
    [(1, 1, 0), (2, 2, 0), (3, 2, 1), (4, 3, 1), (5, 3, 2), (6, 4, 2), (7, 4, 3), (9, 5, 4)],
)
def test_majority_and_tolerated_failures(n, expected_majority, expected_tolerated):
    assert majority(n) == expected_majority
    assert tolerated_failures(n) == expected_tolerated
    # The two always add up: whatever the count tolerates, a majority survives it.
    assert n - tolerated_failures(n) >= majority(n)


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "3", None])
def test_manager_count_must_be_positive_int(bad):
    with pytest.raises(ValueError, match="manager count"):
        majority(bad)
    with pytest.raises(ValueError, match="manager count"):
        tolerated_failures(bad)


# (managers, unreachable, node, allowed, reachable_after, majority_needed)
DOWN_CASES = [
    pytest.param(1, (), "m1", False, 0, 1, id="1-single-manager-cannot-go-down"),
    pytest.param(2, (), "m2", False, 1, 2, id="2-no-tolerance"),
    pytest.param(3, (), "m2", True, 2, 2, id="3-all-up"),
    pytest.param(3, ("m3",), "m2", False, 1, 2, id="3-one-already-down"),
    pytest.param(3, ("m3",), "m3", True, 2, 2, id="3-node-already-unreachable"),
    pytest.param(4, (), "m2", True, 3, 3, id="4-all-up"),
    pytest.param(4, ("m4",), "m2", False, 2, 3, id="4-tolerates-only-one"),
    pytest.param(5, (), "m2", True, 4, 3, id="5-all-up"),
    pytest.param(5, ("m5",), "m2", True, 3, 3, id="5-one-down"),
    pytest.param(5, ("m4", "m5"), "m2", False, 2, 3, id="5-two-down"),
    pytest.param(7, ("m5", "m6"), "m2", True, 4, 4, id="7-two-down"),
    pytest.param(7, ("m5", "m6", "m7"), "m2", False, 3, 4, id="7-three-down"),
]


@pytest.mark.parametrize(("n", "unreachable", "node", "allowed", "reachable_after", "need"), DOWN_CASES)
def test_take_manager_down(n, unreachable, node, allowed, reachable_after, need):
    decision = check_action(cluster(n, unreachable), "down", node)
    assert decision.allowed is allowed
    assert decision.is_manager is True
    assert decision.managers_before == decision.managers_after == n
    assert decision.reachable_before == n - len(unreachable)
    assert decision.reachable_after == reachable_after
    assert decision.majority_needed == need
    # The rule itself: allowed exactly when the survivors are a majority of the whole count.
    assert allowed is (reachable_after >= majority(n))
    if not allowed:
        assert "wait" in decision.reason or "quorum is already lost" in decision.reason


@pytest.mark.parametrize(
    ("leader", "unreachable", "node", "allowed", "leader_affected"),
    [
        pytest.param("m1", (), "m1", True, True, id="reachable-leader-down-costs-election"),
        pytest.param("m1", ("m1",), "m2", False, False, id="unreachable-leader-blocks-another"),
        pytest.param("m1", ("m1",), "m1", True, False, id="unreachable-leader-itself"),
        pytest.param(None, (), "m2", True, False, id="no-leader-known"),
    ],
)
def test_leader_cases_with_three_managers(leader, unreachable, node, allowed, leader_affected):
    decision = check_action(cluster(3, unreachable, leader=leader), "down", node)
    assert decision.allowed is allowed
    assert decision.leader_affected is leader_affected
    assert ("election" in decision.reason) is leader_affected


def test_single_manager_refusal_suggests_more_managers():
    decision = check_action(cluster(1), "down", "m1")
    assert not decision.allowed
    assert "add managers" in decision.reason


def test_lost_quorum_is_reported_before_anything_else():
    decision = check_action(cluster(5, ("m3", "m4", "m5")), "down", "m5")
    assert not decision.allowed
    assert "quorum is already lost" in decision.reason
    assert "force-new-cluster" in decision.reason


# (managers, unreachable, node, allowed, managers_after, reachable_after, majority_needed)
DEMOTE_CASES = [
    pytest.param(1, (), "m1", False, 1, 1, 1, id="1-last-manager"),
    pytest.param(2, (), "m2", True, 1, 1, 1, id="2-to-1"),
    pytest.param(2, ("m2",), "m2", False, 1, 1, 1, id="2-quorum-already-lost"),
    pytest.param(3, (), "m3", True, 2, 2, 2, id="3-to-2"),
    pytest.param(3, ("m3",), "m3", True, 2, 2, 2, id="3-demote-the-unreachable-one"),
    pytest.param(3, ("m3",), "m2", False, 2, 1, 2, id="3-demote-reachable-while-one-down"),
    pytest.param(4, (), "m4", True, 3, 3, 2, id="4-to-3"),
    pytest.param(4, ("m4",), "m1", True, 3, 2, 2, id="4-one-down-demote-reachable"),
    pytest.param(5, ("m4", "m5"), "m1", False, 4, 2, 3, id="5-two-down-demote-reachable"),
    pytest.param(5, ("m4", "m5"), "m5", True, 4, 3, 3, id="5-two-down-demote-unreachable"),
    pytest.param(7, (), "m7", True, 6, 6, 4, id="7-to-6"),
]


@pytest.mark.parametrize("action", ["demote", "remove"])
@pytest.mark.parametrize(
    ("n", "unreachable", "node", "allowed", "managers_after", "reachable_after", "need"), DEMOTE_CASES
)
def test_demote_and_remove_shrink_the_count(
    action, n, unreachable, node, allowed, managers_after, reachable_after, need
):
    decision = check_action(cluster(n, unreachable), action, node)
    assert decision.allowed is allowed
    assert decision.managers_after == managers_after
    assert decision.reachable_after == reachable_after
    assert decision.majority_needed == need
    if allowed and action == "remove":
        assert "demote" in decision.reason
    if n == 1:
        assert "only manager" in decision.reason


@pytest.mark.parametrize(
    ("n", "unreachable", "allowed", "managers_after", "mentions_even"),
    [
        pytest.param(1, (), True, 2, True, id="1-to-2-warns-even"),
        pytest.param(2, (), True, 3, False, id="2-to-3"),
        pytest.param(4, (), True, 5, False, id="4-to-5"),
        pytest.param(3, ("m2", "m3"), False, 4, False, id="no-quorum-no-membership-change"),
    ],
)
def test_promote_worker(n, unreachable, allowed, managers_after, mentions_even):
    decision = check_action(cluster(n, unreachable), "promote", "w1")
    assert decision.allowed is allowed
    assert decision.is_manager is False
    assert decision.managers_after == managers_after
    assert decision.reachable_after == n - len(unreachable) + 1
    assert ("even count" in decision.reason) is mentions_even


@pytest.mark.parametrize(
    ("action", "node", "fragment"),
    [
        ("promote", "m2", "already a manager"),
        ("demote", "w1", "nothing to demote"),
        ("down", "w1", "not a manager"),
        ("remove", "w1", "not a manager"),
    ],
)
def test_no_op_and_worker_actions_leave_quorum_alone(action, node, fragment):
    decision = check_action(cluster(3), action, node)
    assert decision.allowed is True
    assert fragment in decision.reason
    assert decision.managers_after == 3
    assert decision.reachable_after == 3


def test_nodes_can_be_named_by_hostname():
    decision = check_action(cluster(3), "down", "host2")
    assert decision.is_manager is True
    assert decision.node == "host2"
    assert decision.reachable_after == 2


@pytest.mark.parametrize(
    ("managers", "action", "message"),
    [
        pytest.param(cluster(3), "reboot", "unknown quorum action", id="unknown-action"),
        pytest.param([], "down", "empty", id="no-managers"),
        pytest.param(cluster(2) + [Manager("m1", True)], "down", "listed twice", id="duplicate"),
        pytest.param(
            [Manager("a", True, leader=True), Manager("b", True, leader=True)],
            "down",
            "more than one",
            id="two-leaders",
        ),
    ],
)
def test_invalid_input_raises(managers, action, message):
    with pytest.raises(ValueError, match=message):
        check_action(managers, action, "m1")


def test_ambiguous_hostname_raises():
    managers = [Manager("a", True, hostname="dup"), Manager("b", True, hostname="dup")]
    with pytest.raises(ValueError, match="several managers"):
        check_action(managers, "down", "dup")


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        pytest.param({"ID": "w", "Spec": {"Role": "worker"}}, None, id="worker"),
        pytest.param(
            {"ID": "x", "Spec": {"Role": "manager"}, "ManagerStatus": None}, None, id="promotion-in-progress"
        ),
        pytest.param(
            {
                "ID": "a",
                "Description": {"Hostname": "mgr-a"},
                "ManagerStatus": {"Leader": True, "Reachability": "reachable", "Addr": "10.0.0.1:2377"},
            },
            Manager("a", True, True, "mgr-a"),
            id="reachable-leader",
        ),
        pytest.param(
            {"ID": "b", "ManagerStatus": {"Reachability": "unreachable"}},
            Manager("b", False, False, ""),
            id="unreachable-follower",
        ),
        pytest.param(
            {"ID": "c", "ManagerStatus": {"Reachability": "unknown"}},
            Manager("c", False, False, ""),
            id="unknown-counts-as-unreachable",
        ),
    ],
)
def test_manager_from_api(node, expected):
    assert manager_from_api(node) == expected


# (managers, unreachable, leader, reachable, can_lose, has_quorum, healthy, warning fragments)
SUMMARY_CASES = [
    pytest.param(1, (), "m1", 1, 0, True, True, ["no fault tolerance"], id="1"),
    pytest.param(2, (), "m1", 2, 0, True, True, ["use an odd manager count", "no margin"], id="2"),
    pytest.param(3, (), "m1", 3, 1, True, True, [], id="3-healthy"),
    pytest.param(3, ("m3",), "m1", 2, 0, True, False, ["no margin"], id="3-one-down"),
    pytest.param(3, ("m1",), "m1", 2, 0, True, False, ["leader host1 is unreachable"], id="3-leader-down"),
    pytest.param(3, ("m2", "m3"), "m1", 1, -1, False, False, ["quorum lost"], id="3-lost"),
    pytest.param(4, (), "m1", 4, 1, True, True, ["4 managers tolerate 1"], id="4"),
    pytest.param(5, ("m5",), "m1", 4, 1, True, False, [], id="5-one-down"),
    pytest.param(7, (), None, 7, 3, True, False, ["no manager reports being leader"], id="7-no-leader"),
]


@pytest.mark.parametrize(
    ("n", "unreachable", "leader", "reachable", "can_lose", "has_quorum", "healthy", "fragments"),
    SUMMARY_CASES,
)
def test_quorum_summary(n, unreachable, leader, reachable, can_lose, has_quorum, healthy, fragments):
    summary = quorum_summary(cluster(n, unreachable, leader=leader))
    assert summary.managers == n
    assert summary.reachable == reachable
    assert summary.majority == majority(n)
    assert summary.tolerated_failures == tolerated_failures(n)
    assert summary.can_lose == can_lose
    assert summary.has_quorum is has_quorum
    assert summary.healthy is healthy
    assert summary.unreachable == tuple(f"host{name[1:]}" for name in unreachable)
    for fragment in fragments:
        assert any(fragment in w for w in summary.warnings), (fragment, summary.warnings)
    if not fragments:
        assert summary.warnings == ()


def test_summary_rejects_empty_list():
    with pytest.raises(ValueError, match="empty"):
        quorum_summary([])
