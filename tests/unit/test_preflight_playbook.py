"""The preflight refuses a control character in a role variable before any host is contacted.

No engine or host is needed: the only host is loopback port 1, which refuses connections, and the
controller-side checks must stop the run before anything tries to reach it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, playbook: str, extra_vars: dict) -> subprocess.CompletedProcess:
    inventory = tmp_path / "hosts.yml"
    gone = {"hosts": {"gone-m1": {"ansible_host": "127.0.0.1", "ansible_port": 1}}}
    inventory.write_text(yaml.safe_dump({"all": {"children": {"swarm_managers": gone}}}))
    command = [
        "ansible-playbook",
        "-i",
        str(inventory),
        f"playbooks/{playbook}",
        "-e",
        json.dumps(extra_vars),
    ]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_SSH_ARGS="-o ConnectTimeout=3")
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120
    )


@pytest.mark.parametrize(
    ("playbook", "extra_vars", "named"),
    [
        (
            "site.yml",
            {"docker_http_proxy": "http://proxy:3128\n[Service]\nExecStartPre=/bin/touch /tmp/owned"},
            "docker_http_proxy contains a newline",
        ),
        ("site.yml", {"swarm_labels": {"zone": "a\rb"}}, "swarm_labels.zone contains a carriage return"),
        ("remove_node.yml", {"swarm_remove_node": "gone-m1\nx"}, "swarm_remove_node contains a newline"),
    ],
)
def test_control_characters_are_refused_before_any_host_is_contacted(tmp_path, playbook, extra_vars, named):
    result = _run(tmp_path, playbook, extra_vars)
    assert result.returncode != 0
    assert named in result.stdout, result.stdout[-3000:]
    assert "UNREACHABLE" not in result.stdout, "a host was contacted although the input was refused"
