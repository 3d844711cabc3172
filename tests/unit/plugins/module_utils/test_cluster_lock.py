# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils import cluster_lock as lock

NOW = 100_000.0
OWNER = {"user": "ops", "host": "ctl", "pid": 42}


def held(run_id="other", age=60.0, purpose="upgrade.yml"):
    return lock.lock_data(run_id, OWNER, purpose, NOW - age)


@pytest.mark.parametrize(
    ("state", "found", "break_lock", "action", "changed", "refused"),
    [
        ("present", None, False, "create", True, False),
        ("present", held("me"), False, "keep", False, False),
        ("present", held("other"), False, "refuse", False, True),
        ("present", held("other", age=99_999), False, "refuse", False, True),
        ("present", held("other"), True, "replace", True, False),
        ("absent", None, False, "none", False, False),
        ("absent", held("me"), False, "remove", True, False),
        ("absent", held("other"), False, "none", False, False),
        ("broken", None, False, "none", False, False),
        ("broken", held("other"), False, "remove", True, False),
    ],
)
def test_decide(state, found, break_lock, action, changed, refused):
    decision = lock.decide(state, "me", found, NOW, stale_after=7200, break_lock=break_lock)
    assert (decision.action, decision.changed, decision.refused) == (action, changed, refused)


@pytest.mark.parametrize(
    ("age", "stale", "advice"),
    [
        (60, False, "Wait for it to finish"),
        (7199, False, "Wait for it to finish"),
        (7200, True, "The lock is stale"),
        (50_000, True, "The lock is stale"),
    ],
)
def test_refusal_names_owner_age_and_staleness(age, stale, advice):
    decision = lock.decide("present", "me", held(age=age), NOW, stale_after=7200)
    assert decision.holder["stale"] is stale
    assert "ops@ctl (pid 42)" in decision.message
    assert decision.holder["age"] in decision.message
    assert advice in decision.message
    assert "flotilla_break_lock=true" in decision.message


def test_unreadable_lock_is_never_ours_and_needs_breaking():
    decision = lock.decide("present", "me", None, NOW, unreadable="not JSON")
    assert decision.refused and "docker config inspect" in decision.message
    assert lock.decide("absent", "me", None, NOW, unreadable="not JSON").action == "none"
    assert lock.decide("present", "me", None, NOW, unreadable="x", break_lock=True).action == "replace"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"\xff", "UTF-8"),
        ("nope", "not JSON"),
        ('{"owner": {}}', "lacks run_id"),
        ('{"run_id": "a", "owner": {}, "started": "soon"}', "start time"),
        ("[]", "lacks run_id"),
    ],
)
def test_decode_refuses_foreign_data(raw, error):
    with pytest.raises(lock.LockDataError, match=error):
        lock.decode(raw)


def test_encode_decode_round_trip():
    data = lock.lock_data("r1", {"user": "u", "host": "h", "pid": 7}, "p", 12.5)
    assert lock.decode(lock.encode(data)) == data
    assert lock.decode(lock.encode(data).decode()) == data


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (61, "1m01s"), (3600, "1h00m"), (7322, "2h02m"), (-5, "0s")],
)
def test_format_age(seconds, text):
    assert lock.format_age(seconds) == text


@pytest.mark.parametrize(
    ("owner", "label"),
    [
        ({"user": "a", "host": "b", "pid": 3}, "a@b (pid 3)"),
        ({}, "unknown@unknown"),
        (None, "unknown@unknown"),
    ],
)
def test_owner_label(owner, label):
    assert lock.owner_label(lock.lock_data("r", owner, "", 0)) == label


def test_bad_inputs():
    with pytest.raises(ValueError, match="run ID"):
        lock.lock_data("", OWNER, "", 0)
    with pytest.raises(ValueError, match="present, absent or broken"):
        lock.decide("open", "me", None, NOW)


@pytest.mark.parametrize(
    ("labels", "progress", "expected"),
    [
        ({}, None, None),
        ({}, {}, None),
        ({"a": "b"}, {"node": "m1", "step": "drain"}, {"a": "b", "node": "m1", "step": "drain", "at": NOW}),
        (
            {
                "org.flotilla.lock.node": "m1",
                "org.flotilla.lock.step": "drain",
                "org.flotilla.lock.at": "5.0",
            },
            {"node": "m1", "step": "drain"},
            None,
        ),
        (
            {
                "org.flotilla.lock.node": "m1",
                "org.flotilla.lock.step": "drain",
                "org.flotilla.lock.at": "5.0",
            },
            {"node": "m1", "step": "restart"},
            {"node": "m1", "step": "restart", "at": NOW},
        ),
        (
            {"org.flotilla.lock.node": "m1", "org.flotilla.lock.step": "drain"},
            {"node": "m2"},
            {"node": "m2", "at": NOW},
        ),
    ],
)
def test_progress_labels(labels, progress, expected):
    result = lock.progress_labels(labels, progress, NOW)
    if expected is None:
        assert result is None
        return
    assert lock.read_progress(result) == {k: v for k, v in expected.items() if k != "a"}
    if "a" in expected:
        assert result["a"] == "b"


def test_progress_refuses_unknown_keys():
    with pytest.raises(ValueError, match="node and step"):
        lock.progress_labels({}, {"host": "m1"}, NOW)


@pytest.mark.parametrize(
    ("progress", "text"),
    [
        ({}, ""),
        ({"node": "m2"}, "at node m2"),
        ({"node": "m2", "step": "Drain", "at": NOW - 65}, 'at node m2, step "Drain" (for 1m05s)'),
        ({"step": "plan"}, 'at step "plan"'),
    ],
)
def test_progress_text(progress, text):
    assert lock.progress_text(progress, NOW) == text


def test_refusal_carries_the_holders_progress():
    found = {"node": "m3", "step": "Drain the node", "at": NOW - 10}
    decision = lock.decide("present", "me", held(), NOW, found_progress=found)
    assert decision.refused and 'at node m3, step "Drain the node" (for 10s)' in decision.message
    assert decision.holder["progress"] == found


@pytest.mark.parametrize(
    ("results", "released"),
    [
        ([], False),
        ([{"unreachable": True, "msg": "ssh timed out"}], False),
        ([{"failed": False, "msg": "cannot read or write the cluster lock through ...: no leader"}], False),
        ([{"unreachable": True}, {"action": "remove", "changed": True}], True),
        (
            [{"action": "none", "holder": {}, "msg": "no flotilla-lock lock is held; nothing to release"}],
            True,
        ),
        ([{"action": "none", "holder": {"run_id": "other"}, "msg": "held by another run"}], False),
        ([{"skipped": True}], False),
    ],
)
def test_released_by(results, released):
    assert lock.released_by(results) is released
