# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""swarm_node_ready's wait loop against a scripted engine and a fake clock."""

from __future__ import annotations

import contextlib
import json
from unittest import mock

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.flotilla.cluster.plugins.modules import swarm_node_ready
from docker.errors import APIError, DockerException
from engine_fakes import FakeClock


def node(name, role="worker", state="ready", version="26.1.5", reachable="reachable", leader=False):
    data = {
        "ID": f"id-{name}",
        "Description": {"Hostname": name, "Engine": {"EngineVersion": version}},
        "Spec": {"Role": role, "Availability": "drain"},
        "Status": {"State": state},
    }
    if role == "manager":
        data["ManagerStatus"] = {"Reachability": reachable, "Leader": leader}
    return data


def timeline(clock, steps):
    """An engine whose node list follows ``steps``: [(from_second, nodes or an exception)]."""

    def nodes(filters=None):
        elapsed = clock.t - 1000.0
        current = [value for start, value in steps if elapsed >= start][-1]
        if isinstance(current, Exception):
            raise current
        return current

    api = mock.MagicMock()
    api.nodes.side_effect = nodes
    return api


PARAMS = {"node": "w1", "version": "26.1.5", "timeout": 60, "poll_interval": 2.0, "docker_host": "unix:///x"}


def managers(**kw):
    return [node("m1", "manager", leader=True), node("m2", "manager"), node("m3", "manager")]


def test_waits_through_restart_until_version_reported():
    clock = FakeClock()
    api = timeline(
        clock,
        [
            (0, managers() + [node("w1", version="20.10.24+dfsg1")]),
            (4, managers() + [node("w1", state="down", version="20.10.24+dfsg1")]),
            (10, managers() + [node("w1", version="26.1.5")]),
        ],
    )
    result = swarm_node_ready.wait(PARAMS, False, lambda host: api, clock.now, clock.sleep)
    assert result["ready"] is True
    assert result["elapsed"] == 10
    assert result["engine_version"] == "26.1.5"
    assert "back after 10s" in result["msg"]


def test_engine_errors_count_as_not_yet_until_the_deadline():
    clock = FakeClock()
    calls = {"n": 0}
    api = timeline(
        clock,
        [
            (0, APIError("503 Server Error", explanation="rpc error: The swarm does not have a leader")),
            (6, managers() + [node("w1")]),
        ],
    )

    def factory(host):
        calls["n"] += 1
        if calls["n"] == 1:
            raise DockerException("connection refused")
        return api

    result = swarm_node_ready.wait(PARAMS, False, factory, clock.now, clock.sleep)
    assert result["ready"] is True and result["last_error"] == ""
    assert calls["n"] >= 2  # the client is rebuilt after an error


def test_timeout_says_what_is_still_awaited():
    clock = FakeClock()
    api = timeline(clock, [(0, managers() + [node("w1", version="20.10.24+dfsg1")])])
    result = swarm_node_ready.wait(PARAMS, False, lambda host: api, clock.now, clock.sleep)
    assert result["failed"] is True and result["ready"] is False
    assert "not back after 60s" in result["msg"]
    assert "report 26.1.5 (it reports 20.10.24+dfsg1)" in result["msg"]
    assert "journalctl -u docker" in result["msg"]


def test_manager_waits_for_reachability_and_leader():
    clock = FakeClock()
    params = dict(PARAMS, node="m1")
    api = timeline(
        clock,
        [
            (
                0,
                [
                    node("m1", "manager", reachable="unreachable", leader=True),
                    node("m2", "manager"),
                    node("m3", "manager"),
                ],
            ),
            (12, [node("m1", "manager"), node("m2", "manager", leader=True), node("m3", "manager")]),
        ],
    )
    result = swarm_node_ready.wait(params, False, lambda host: api, clock.now, clock.sleep)
    assert result["ready"] is True and result["leader"] == "m2" and result["elapsed"] == 12


def test_check_mode_reports_once_without_waiting():
    clock = FakeClock()
    api = timeline(clock, [(0, managers() + [node("w1", version="20.10.24")])])
    result = swarm_node_ready.wait(PARAMS, True, lambda host: api, clock.now, clock.sleep)
    assert result["ready"] is False and clock.sleeps == []
    assert "check mode does not wait" in result["msg"]


@pytest.mark.parametrize(("ready", "failed"), [(True, False), (False, True)])
def test_main_fails_only_on_timeout(capsys, ready, failed):
    outcome = {"changed": False, "ready": ready, "msg": "m"}
    if failed:
        outcome["failed"] = True
    with (
        patch_module_args({"node": "w1"}),
        mock.patch.object(swarm_node_ready, "wait", return_value=dict(outcome)),
        contextlib.suppress(SystemExit),
    ):
        swarm_node_ready.main()
    result = json.loads(capsys.readouterr().out)
    assert bool(result.get("failed")) is failed
