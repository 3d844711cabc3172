# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Every module that talks to the engine through the docker SDK fails the same way, through main().

No SDK: Ansible's missing_required_lib message. An engine that does not answer: a message naming
the docker_host tried and what to do. An engine error later on: what the module was doing, the
engine's own words, and the module's advice.
"""

from __future__ import annotations

import contextlib
import json
from unittest import mock

import docker
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.flotilla.cluster.plugins.module_utils import docker_client
from ansible_collections.flotilla.cluster.plugins.modules import (
    swarm_lock,
    swarm_node,
    swarm_node_ready,
    swarm_reconcile,
    swarm_rollout,
    swarm_status,
    swarm_upgrade_plan,
)
from docker.errors import APIError, DockerException
from engine_fakes import node

HOST = "tcp://m9:2376"


def _case(module, args):
    return pytest.param(module, args, id=module.__name__.rsplit(".", 1)[-1])


# module, minimal arguments
CONNECTING = [
    _case(swarm_node, {"node": "w1"}),
    _case(swarm_rollout, {"name": "web"}),
    _case(swarm_lock, {"run_id": "r1"}),
    _case(swarm_status, {}),
    _case(swarm_reconcile, {"nodes": []}),
    _case(swarm_upgrade_plan, {"node": "m1"}),
]
# swarm_node_ready connects in its wait loop (an engine that does not answer yet is what it waits for)
ALL = [*CONNECTING, _case(swarm_node_ready, {"node": "w1"})]


def run_main(module, args, connect):
    with (
        patch_module_args(dict(args, docker_host=HOST)),
        mock.patch.object(docker_client, "connect", connect),
        contextlib.suppress(SystemExit),
    ):
        module.main()


@pytest.mark.parametrize(("module", "args"), ALL)
def test_missing_sdk_is_reported_before_any_connection(module, args, capsys, monkeypatch):
    monkeypatch.setattr(docker_client, "HAS_DOCKER", False)
    connect = mock.Mock()
    run_main(module, args, connect)
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True
    assert "Failed to import the required Python library (docker)" in result["msg"]
    assert "python3-docker" in result["msg"]
    connect.assert_not_called()


@pytest.mark.parametrize(("module", "args"), CONNECTING)
def test_unreachable_engine_names_the_docker_host(module, args, capsys):
    refused = DockerException("Error while fetching server API version: connection refused")
    run_main(module, args, mock.Mock(side_effect=refused))
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True
    assert result["msg"] == (
        f"cannot reach the Docker engine at {HOST}: Error while fetching server API version: connection "
        "refused. Run this on a Swarm manager whose engine is up, or set docker_host"
    )


def test_status_of_a_locked_manager_says_why_it_cannot_answer(capsys):
    api = mock.MagicMock(spec=docker.APIClient)
    api.nodes.side_effect = APIError("503", explanation="swarm is encrypted and needs to be unlocked")
    run_main(swarm_status, {}, mock.Mock(return_value=api))
    result = json.loads(capsys.readouterr().out)
    assert result["msg"] == (
        f"cannot read the swarm through {HOST}: swarm is encrypted and needs to be unlocked. Run this on "
        "a manager whose engine is up (an unreachable or locked manager cannot answer)"
    )


def test_reconcile_failing_update_names_the_node_and_what_was_done(capsys):
    api = mock.MagicMock(spec=docker.APIClient)
    api.nodes.return_value = [
        node("id-m1", "m1", role="manager", leader=True),
        node("id-w1", "w1"),
        node("id-w2", "w2"),
    ]
    api.update_node.side_effect = [True, APIError("500", explanation="update out of sequence")]
    wanted = [
        {"name": "w1", "node_id": "id-w1", "role": "worker", "labels": {"zone": "a"}},
        {"name": "w2", "node_id": "id-w2", "role": "worker", "labels": {"zone": "b"}},
    ]
    run_main(swarm_reconcile, {"nodes": wanted}, mock.Mock(return_value=api))
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True
    assert result["msg"].startswith(f"cannot update node w2 through {HOST}: update out of sequence.")
    assert "re-run to finish" in result["msg"]
    assert list(result["changes"]) == ["w1"]


def test_reconcile_passes_its_timeout_to_the_client(capsys):
    api = mock.MagicMock(spec=docker.APIClient)
    api.nodes.return_value = [node("id-m1", "m1", role="manager", leader=True)]
    connect = mock.Mock(return_value=api)
    run_main(swarm_reconcile, {"nodes": [], "timeout": 7}, connect)
    result = json.loads(capsys.readouterr().out)
    assert not result.get("failed"), result
    connect.assert_called_once_with(HOST, 7)


def test_upgrade_step_names_the_node_by_hostname_when_refused(capsys):
    # The engine still calls m3 reachable, but nothing listens on its Raft address (a closed local
    # port): the live probe counts it unreachable, and the refusal names it by hostname, not ID.
    api = mock.MagicMock(spec=docker.APIClient)
    managers = [node(f"id-m{i}", f"m{i}", role="manager", leader=i == 1) for i in (1, 2, 3)]
    for manager in managers:
        manager["ManagerStatus"]["Addr"] = "127.0.0.1:1"
    api.nodes.return_value = managers
    run_main(swarm_upgrade_plan, {"node": "id-m3", "probe_timeout": 1}, mock.Mock(return_value=api))
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True
    assert result["msg"].startswith("m3 must not go down now: m3 is unreachable (no answer on its Raft port")
