"""playbooks/rollout.yml refuses a bad request, and a cluster with no answering manager, up front.

These runs need no engine: the request is checked on the controller, and the only "manager" is
loopback port 1, which refuses the connection. The real rollouts are exercised by
tests/integration/test_rollout_under_load.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, extra_vars: dict | None) -> subprocess.CompletedProcess:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "swarm_managers": {
                            "hosts": {"gone-m1": {"ansible_host": "127.0.0.1", "ansible_port": 1}}
                        }
                    }
                }
            }
        )
    )
    command = ["ansible-playbook", "-i", str(inventory), "playbooks/rollout.yml"]
    if extra_vars is not None:
        command += ["-e", json.dumps(extra_vars)]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_SSH_ARGS="-o ConnectTimeout=3")
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120
    )


def test_missing_request_is_refused_before_any_host_is_contacted(tmp_path):
    result = _run(tmp_path, None)
    assert result.returncode != 0
    assert "set flotilla_rollout_services" in result.stdout
    assert "gone-m1" not in result.stdout, "a host was contacted although the request was refused"


def test_every_bad_item_is_named_at_once(tmp_path):
    services = [
        {"image": "web:2"},
        {"name": "web", "state": "absent"},
        {"name": "web", "wait": False},
        "api",
    ]
    result = _run(
        tmp_path, {"flotilla_rollout_services": services, "flotilla_rollout_defaults": {"name": "x"}}
    )
    output = result.stdout
    assert result.returncode != 0
    for expected in [
        "flotilla_rollout_services[0] needs a name",
        "flotilla_rollout_services[1] (web): state absent is not a rollout",
        "flotilla_rollout_services[2] (web): wait: false",
        "flotilla_rollout_services[3] must be a mapping",
        "flotilla_rollout_services lists web more than once",
        "flotilla_rollout_defaults must not set name",
    ]:
        assert expected in output, f"missing {expected!r}:\n{output[-3000:]}"
    assert "gone-m1" not in output


def test_no_answering_manager_fails_naming_each_manager(tmp_path):
    result = _run(tmp_path, {"flotilla_rollout_services": [{"name": "web", "image": "web:2"}]})
    output = result.stdout
    assert result.returncode != 0
    assert "No host of swarm_managers answers as a Swarm manager, so nothing was rolled out" in output
    assert "- gone-m1: unreachable" in output
    assert "Dry-run every service" not in output
