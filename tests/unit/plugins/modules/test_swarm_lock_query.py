# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""swarm_lock state=query: read-only, never fails, names the holder and its progress labels."""

from __future__ import annotations

import base64
import contextlib
import json
from unittest import mock

import docker
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.flotilla.cluster.plugins.module_utils import cluster_lock
from ansible_collections.flotilla.cluster.plugins.modules import swarm_lock
from docker.errors import APIError, DockerException

NOW = 1_000_000.0


def engine(data=None, labels=None):
    """A manager holding the lock config with ``data`` (bytes) and ``labels``; none when data is None."""
    api = mock.MagicMock(spec=docker.APIClient)
    held = data is not None
    api.configs.return_value = [{"ID": "cfg1", "Spec": {"Name": cluster_lock.LOCK_NAME}}] if held else []
    api.inspect_config.return_value = {
        "ID": "cfg1",
        "Spec": {
            "Name": cluster_lock.LOCK_NAME,
            "Data": base64.b64encode(data or b"").decode(),
            "Labels": labels,
        },
    }
    return api


def lock_bytes(age=90.0, purpose="upgrade.yml to Docker 26.1.5: m2"):
    data = cluster_lock.lock_data("other-run", {"user": "ops", "host": "ctl", "pid": 42}, purpose, NOW - age)
    return cluster_lock.encode(data)


def run_query(api, connect_error=None):
    args = {"state": "query", "stale_after": 7200}
    patcher = (
        mock.patch.object(swarm_lock, "connect", side_effect=connect_error)
        if connect_error
        else mock.patch.object(swarm_lock, "connect", return_value=api)
    )
    clock = mock.patch("time.time", return_value=NOW)
    with (
        patch_module_args(args),
        patcher,
        clock,
        mock.patch("sys.stdout") as stdout,
        contextlib.suppress(SystemExit),
    ):
        swarm_lock.main()
    return json.loads("".join(call.args[0] for call in stdout.write.call_args_list))


def test_query_without_a_lock():
    result = run_query(engine())
    assert not result.get("failed")
    assert result["held"] is False and result["holder"] == {} and result["progress"] == {}
    assert result["changed"] is False
    assert result["msg"] == "no rolling run holds the cluster lock"


def test_query_names_the_holder_and_its_progress_labels():
    labels = {
        cluster_lock.LOCK_LABEL: "true",
        "org.flotilla.lock.node": "m2",
        "org.flotilla.lock.step": "drain",
    }
    api = engine(lock_bytes(), labels)
    result = run_query(api)
    assert not result.get("failed")
    assert result["held"] is True
    assert result["holder"]["owner_label"] == "ops@ctl (pid 42)"
    assert result["holder"]["purpose"] == "upgrade.yml to Docker 26.1.5: m2"
    assert result["holder"]["age"] == "1m30s"
    assert result["progress"] == {"node": "m2", "step": "drain"}
    assert "held by ops@ctl (pid 42), run other-run, held for 1m30s" in result["msg"]
    assert 'at node m2, step "drain"' in result["msg"]
    # read-only
    api.create_config.assert_not_called()
    api.remove_config.assert_not_called()


def test_query_of_an_unreadable_lock_reports_it():
    result = run_query(engine(b"not json", None))
    assert not result.get("failed")
    assert result["held"] is True
    assert result["holder"]["readable"] is False
    assert "unreadable" in result["msg"]


@pytest.mark.parametrize(
    "broken",
    [
        {"connect_error": DockerException("Connection refused")},
        {"list_error": APIError("503 Server Error", explanation="This node is not a swarm manager.")},
    ],
)
def test_query_never_fails(broken):
    api = engine()
    if "list_error" in broken:
        api.configs.side_effect = broken["list_error"]
    result = run_query(api, connect_error=broken.get("connect_error"))
    assert not result.get("failed")
    assert result["held"] is False
    assert result["error"]
    assert result["msg"].startswith("cannot read the cluster lock: ")


def test_query_message_variants():
    holder = cluster_lock.describe_holder(json.loads(lock_bytes(age=8000)), NOW, 7200)
    assert cluster_lock.query_message({}) == "no rolling run holds the cluster lock"
    line = cluster_lock.query_message(holder)
    assert ", stale (upgrade.yml to Docker 26.1.5: m2)" in line
    assert "; at" not in line
