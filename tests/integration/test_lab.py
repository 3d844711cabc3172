"""The README's main command: `flotilla lab up` forms a real Swarm on 3 local hosts; down is clean.

Runs the CLI as a user would (a subprocess), under its own lab name so an operator's lab on the
same machine is left alone.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from flotilla.testhosts import hosts as testhosts

ROOT = Path(__file__).resolve().parents[2]
NAME = "pytest-lab"


def _flotilla(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "flotilla"), "lab", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1500,
    )


def _root_login_refused(address: str, name: str) -> bool:
    key = testhosts.state_dir(name) / "id_ed25519"
    attempt = subprocess.run(
        ["ssh", "-i", str(key), *testhosts.SSH_OPTIONS, "-o", "BatchMode=yes", f"root@{address}", "true"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return attempt.returncode == 255 and "Permission denied" in attempt.stderr


def test_lab_up_forms_a_swarm_and_down_cleans_up(tool_env, engine):
    env = dict(tool_env, FLOTILLA_LAB_NAME=NAME)
    inventory = ROOT / "inventories" / NAME / "hosts.yml"
    try:
        up = _flotilla("up", env=env)
        output = up.stdout + up.stderr
        assert up.returncode == 0, output[-6000:]
        assert "PLAY " in output, "no per-play progress was shown"
        groups = yaml.safe_load(inventory.read_text())["all"]["children"]["swarm"]["children"]
        assert list(groups["swarm_managers"]["hosts"]) == [f"flotilla-{NAME}-1"]
        # the default login is the unprivileged user with sudo; root cannot log in over SSH
        entries = [*groups["swarm_managers"]["hosts"].values(), *groups["swarm_workers"]["hosts"].values()]
        assert all(entry["ansible_user"] == "flotilla" and entry["ansible_become"] for entry in entries), (
            entries
        )
        assert _root_login_refused(entries[0]["ansible_host"], NAME), "root logged in over SSH"
        assert sorted(groups["swarm_workers"]["hosts"]) == [f"flotilla-{NAME}-2", f"flotilla-{NAME}-3"]
        table = output.split("nodes, as", 1)[1]
        node_lines = [line for line in table.splitlines()[1:] if f"flotilla-{NAME}-" in line]
        assert len(node_lines) == 3, table
        assert all("Ready" in line and "Active" in line for line in node_lines), table
        assert sum("Leader" in line for line in node_lines) == 1, table

        status = _flotilla("status", env=env)
        assert status.returncode == 0 and status.stdout.count("running") == 3, status.stdout
    finally:
        first = _flotilla("down", env=env)
        second = _flotilla("down", env=env)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert not inventory.exists()
    leftovers = engine.containers.list(all=True, filters={"label": f"org.flotilla.testhosts={NAME}"})
    assert leftovers == []
    assert engine.networks.list(filters={"label": f"org.flotilla.testhosts={NAME}"}) == []
