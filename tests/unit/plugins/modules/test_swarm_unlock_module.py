# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""swarm_unlock's run() against a scripted engine and a fake clock."""

from __future__ import annotations

from unittest import mock

from ansible_collections.flotilla.cluster.plugins.modules import swarm_unlock
from docker.errors import APIError, DockerException
from engine_fakes import FakeClock

KEY = "SWMKEY-1-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def engine(states, manager=True, autolock=True, current=KEY):
    """An engine whose LocalNodeState walks through ``states`` (one per info() call, last repeats)."""
    api = mock.MagicMock()
    seen = list(states)

    def info():
        state = seen.pop(0) if len(seen) > 1 else seen[0]
        if isinstance(state, Exception):
            raise state
        return {"Swarm": {"LocalNodeState": state, "ControlAvailable": manager and state == "active"}}

    api.info.side_effect = info
    api.inspect_swarm.return_value = {"Spec": {"EncryptionConfig": {"AutoLockManagers": autolock}}}
    api.get_unlock_key.return_value = {"UnlockKey": current}
    return api


def params(**extra):
    return {"unlock_key": KEY, "key_source": "/ctl/key", "timeout": 30, "docker_host": "x", **extra}


def call(api, check_mode=False, **extra):
    clock = FakeClock()
    result = swarm_unlock.run(params(**extra), check_mode, lambda _host: api, clock.now, clock.sleep)
    return result, clock


def test_locked_manager_is_unlocked_and_waited_for():
    api = engine(["locked", "locked", "active"])
    result, _ = call(api)
    assert result["changed"] and result["state"] == "active" and not result.get("failed")
    api.unlock_swarm.assert_called_once_with(KEY)
    assert KEY not in str(result)


def test_engine_not_answering_yet_is_waited_for_then_unlocked():
    api = engine([DockerException("connection refused"), "locked", "active"])
    result, clock = call(api)
    assert result["action"] == "unlock" and result["state"] == "active"
    assert clock.sleeps


def test_wrong_key_refused_by_the_engine_fails_without_the_key():
    api = engine(["locked"])
    api.unlock_swarm.side_effect = APIError("400", explanation="swarm could not be unlocked: invalid key")
    result, _ = call(api, unlock_key="SWMKEY-1-wrong")
    assert result["failed"] and "invalid key" in result["msg"] and "/ctl/key" in result["msg"]
    assert "SWMKEY-1-wrong" not in str(result)


def test_active_manager_with_matching_key_changes_nothing():
    api = engine(["active"])
    result, _ = call(api)
    assert not result["changed"] and result["autolock"] is True and not result.get("failed")
    api.unlock_swarm.assert_not_called()


def test_active_manager_with_a_rotated_key_is_refused():
    api = engine(["active"], current="SWMKEY-1-rotated")
    result, _ = call(api)
    assert result["failed"] and "not this swarm's current unlock key" in result["msg"]
    assert KEY not in str(result) and "SWMKEY-1-rotated" not in str(result)


def test_check_mode_does_not_unlock():
    api = engine(["locked"])
    result, _ = call(api, check_mode=True)
    assert result["changed"] and "check mode" in result["msg"]
    api.unlock_swarm.assert_not_called()


def test_no_autolock_needs_no_key():
    api = engine(["active"], autolock=False)
    result, _ = call(api, unlock_key="")
    assert not result.get("failed") and result["autolock"] is False
    api.get_unlock_key.assert_not_called()


def test_still_locked_after_the_timeout_fails():
    api = engine(["locked"])
    result, _ = call(api, timeout=5)
    assert result["failed"] and "still locked" in result["msg"]


def test_a_swarm_without_a_leader_is_refused_with_the_engines_words_after_the_timeout():
    api = engine(["active"])
    api.inspect_swarm.side_effect = APIError("503", explanation="The swarm does not have a leader")
    result, clock = call(api, timeout=10)
    assert result["failed"] and result["action"] == "refuse"
    assert "does not have a leader" in result["msg"] and clock.elapsed() >= 10


def test_an_election_in_progress_is_waited_for():
    api = engine(["active"])
    leaderless = APIError("503", explanation="The swarm does not have a leader")
    api.inspect_swarm.side_effect = [
        leaderless,
        leaderless,
        {"Spec": {"EncryptionConfig": {"AutoLockManagers": True}}},
    ]
    result, _ = call(api)
    assert not result.get("failed") and result["autolock"] is True
