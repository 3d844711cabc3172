# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""swarm_lock through main(), against a mocked APIClient holding (or not) the lock config."""

from __future__ import annotations

import base64
import contextlib
import json
from unittest import mock

import docker
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.flotilla.cluster.plugins.module_utils import cluster_lock, docker_client
from ansible_collections.flotilla.cluster.plugins.modules import swarm_lock
from docker.errors import APIError

NOW = 1_000_000.0


class LockEngine:
    """Configs as a manager keeps them: create refuses an existing name with 409."""

    def __init__(self):
        self.configs = {}
        self.created = []
        self.removed = []
        api = mock.MagicMock(spec=docker.APIClient)
        api.configs.side_effect = lambda filters=None: [
            {"ID": cid, "Spec": {"Name": c["name"]}}
            for cid, c in self.configs.items()
            if c["name"].startswith(filters["name"])
        ]
        api.inspect_config.side_effect = lambda cid: {
            "ID": cid,
            "Version": {"Index": self.configs[cid].get("version", 11)},
            "Spec": {
                "Name": self.configs[cid]["name"],
                "Labels": dict(self.configs[cid]["labels"] or {}),
                "Data": base64.b64encode(self.configs[cid]["data"]).decode(),
            },
        }
        api.create_config.side_effect = self._create
        api.remove_config.side_effect = self._remove
        api._url.side_effect = lambda path, *args: path.format(*args)
        api._post_json.side_effect = self._update
        self.updates = []
        self.api = api

    def _update(self, url, data=None, params=None):
        # the engine accepts a label-only change at the config's current version
        cid = url.split("/")[2]
        config = self.configs[cid]
        assert params == {"version": config.get("version", 11)}
        assert base64.b64decode(data["Data"]) == config["data"] and data["Name"] == config["name"]
        config["labels"] = data["Labels"]
        config["version"] = config.get("version", 11) + 1
        self.updates.append(dict(data["Labels"]))
        return mock.Mock(status_code=200)

    def _create(self, name, data, labels=None):
        if any(c["name"] == name for c in self.configs.values()):
            response = mock.Mock(status_code=409)
            raise APIError("409 Conflict", response=response, explanation=f"config {name} already exists")
        cid = f"cfg{len(self.created) + 1}"
        self.configs[cid] = {"name": name, "data": data, "labels": labels}
        self.created.append(json.loads(data))
        return {"ID": cid}

    def _remove(self, cid):
        self.removed.append(cid)
        del self.configs[cid]

    def hold(self, run_id="other-run", age=60.0, data=None):
        raw = (
            data
            if data is not None
            else cluster_lock.encode(
                cluster_lock.lock_data(
                    run_id, {"user": "ana", "host": "ctl2", "pid": 9}, "upgrade.yml", NOW - age
                )
            )
        )
        self.configs["held"] = {"name": cluster_lock.LOCK_NAME, "data": raw, "labels": {}}


def run(engine, capsys, check_mode=False, **args):
    params = {"run_id": "my-run", "owner": {"user": "bo", "host": "ctl1", "pid": 7}, **args}
    full = dict(params, _ansible_check_mode=check_mode)
    with (
        patch_module_args(full),
        mock.patch.object(docker_client, "connect", return_value=engine.api),
        mock.patch.object(swarm_lock.time, "time", return_value=NOW),
        contextlib.suppress(SystemExit),
    ):
        swarm_lock.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def engine():
    return LockEngine()


def test_free_lock_is_taken_with_owner_and_start(engine, capsys):
    result = run(engine, capsys, purpose="upgrade to 26.1.5")
    assert result["changed"] and result["action"] == "create"
    assert engine.created == [
        {
            "run_id": "my-run",
            "owner": {"user": "bo", "host": "ctl1", "pid": 7},
            "purpose": "upgrade to 26.1.5",
            "started": NOW,
        }
    ]


def test_taking_it_again_in_the_same_run_changes_nothing(engine, capsys):
    engine.hold(run_id="my-run")
    result = run(engine, capsys)
    assert not result["changed"] and result["action"] == "keep"
    assert engine.created == [] and engine.removed == []


def test_lock_held_by_another_run_fails_naming_owner_and_age(engine, capsys):
    engine.hold(age=125)
    result = run(engine, capsys)
    assert result["failed"]
    assert "ana@ctl2 (pid 9)" in result["msg"] and "2m05s" in result["msg"]
    assert "Wait for it to finish" in result["msg"]
    assert result["holder"]["stale"] is False
    assert engine.removed == [] and engine.created == []


def test_stale_lock_is_reported_not_broken(engine, capsys):
    engine.hold(age=3 * 3600)
    result = run(engine, capsys, stale_after=7200)
    assert result["failed"] and result["holder"]["stale"] is True
    assert "stale" in result["msg"] and "flotilla_break_lock=true" in result["msg"]
    assert engine.removed == []


def test_break_lock_replaces_another_runs_lock(engine, capsys):
    engine.hold(age=3 * 3600)
    result = run(engine, capsys, break_lock=True)
    assert result["changed"] and result["action"] == "replace"
    assert engine.removed == ["held"]
    assert engine.created[0]["run_id"] == "my-run"
    assert result["holder"]["owner"]["user"] == "ana"


def test_state_broken_removes_whoever_holds_it(engine, capsys):
    engine.hold()
    result = run(engine, capsys, state="broken")
    assert result["changed"] and engine.removed == ["held"] and engine.created == []


def test_release_removes_only_our_own_lock(engine, capsys):
    engine.hold(run_id="other-run")
    result = run(engine, capsys, state="absent")
    assert not result["changed"] and engine.removed == []
    engine.configs.clear()
    engine.hold(run_id="my-run")
    result = run(engine, capsys, state="absent")
    assert result["changed"] and engine.removed == ["held"]
    result = run(engine, capsys, state="absent")
    assert not result["changed"]


def test_check_mode_writes_nothing(engine, capsys):
    result = run(engine, capsys, check_mode=True)
    assert result["changed"] and "check mode" in result["msg"]
    assert engine.created == []
    engine.hold(run_id="my-run")
    result = run(engine, capsys, check_mode=True, state="absent")
    assert result["changed"] and engine.removed == []


def test_unreadable_lock_is_refused_with_inspect_advice(engine, capsys):
    engine.hold(data=b"someone else's config")
    result = run(engine, capsys)
    assert result["failed"] and "docker config inspect flotilla-lock" in result["msg"]


def test_losing_the_race_to_create_is_reported(engine, capsys):
    def racing_create(name, data, labels=None):
        raise APIError("409 Conflict", response=mock.Mock(status_code=409), explanation="already exists")

    engine.api.create_config.side_effect = racing_create
    result = run(engine, capsys)
    assert result["failed"] and "at the same moment" in result["msg"]


def test_prefix_matches_are_not_the_lock(engine, capsys):
    engine.configs["other"] = {"name": "flotilla-lock-old", "data": b"x", "labels": {}}
    result = run(engine, capsys)
    assert result["action"] == "create"


def test_progress_is_recorded_in_labels_when_it_changes_only(engine, capsys):
    engine.hold(run_id="my-run")
    progress = {"node": "m2", "step": "Drain the node"}
    result = run(engine, capsys, progress=progress)
    assert result["changed"] and result["progress"]["node"] == "m2"
    labels = engine.configs["held"]["labels"]
    assert labels["org.flotilla.lock.node"] == "m2"
    assert labels["org.flotilla.lock.step"] == "Drain the node"
    assert float(labels["org.flotilla.lock.at"]) == NOW
    again = run(engine, capsys, progress=progress)
    assert not again["changed"] and len(engine.updates) == 1
    run(engine, capsys, progress={"node": "m2", "step": "Restart"})
    assert engine.configs["held"]["labels"]["org.flotilla.lock.step"] == "Restart"
    assert engine.created == [] and engine.removed == []


def test_progress_with_a_new_lock_goes_into_its_labels(engine, capsys):
    result = run(engine, capsys, progress={"node": "w1", "step": "plan"})
    assert result["action"] == "create"
    assert engine.configs["cfg1"]["labels"]["org.flotilla.lock.node"] == "w1"
    assert engine.configs["cfg1"]["labels"]["org.flotilla.lock"] == "true"


def test_refusal_names_the_node_and_step_the_holder_reached(engine, capsys):
    engine.hold(run_id="other-run", age=300)
    engine.configs["held"]["labels"] = {
        "org.flotilla.lock.node": "m3",
        "org.flotilla.lock.step": "Drain the node",
        "org.flotilla.lock.at": repr(NOW - 65),
    }
    result = run(engine, capsys, progress={"node": "m1", "step": "x"})
    assert result["failed"]
    assert 'at node m3, step "Drain the node" (for 1m05s)' in result["msg"]
    assert result["holder"]["progress"]["node"] == "m3"
    assert engine.updates == []


def test_progress_in_check_mode_writes_nothing(engine, capsys):
    engine.hold(run_id="my-run")
    result = run(engine, capsys, check_mode=True, progress={"node": "m2", "step": "Drain"})
    assert result["changed"] and engine.updates == []
