"""`flotilla --version`, one version everywhere, and a wrapper that prepares only what a command needs."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest
import yaml

from flotilla import __version__, cli


def test_version_flag_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"flotilla {__version__}"


def test_collection_python_package_and_cli_agree_on_the_version(repo_root):
    galaxy = yaml.safe_load((repo_root / "galaxy.yml").read_text())
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    assert galaxy["version"] == project["version"] == __version__


def test_version_runs_without_a_docker_engine():
    # the console entry point must not need a reachable engine
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from flotilla.cli import main; sys.exit(main(['--version']))"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": "tcp://127.0.0.1:1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"flotilla {__version__}"


@pytest.mark.parametrize(
    ("command", "prepares_machine"),
    [("lab", True), ("test", True), ("testhosts", True), ("status", False), ("--version", False)],
)
def test_wrapper_runs_machine_setup_only_for_commands_that_start_test_hosts(
    repo_root, tmp_path, command, prepares_machine
):
    # Run the wrapper's dispatch with tools/setup-machine replaced by a marker script, in a copy of
    # the wrapper: the real setup would install packages and start an engine on this machine.
    wrapper = (repo_root / "flotilla").read_text()
    head = wrapper.split('venv="$here/.venv"', 1)[0]
    tools = tmp_path / "tools"
    tools.mkdir()
    marker = tmp_path / "setup-ran"
    (tools / "setup-machine").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (tools / "setup-machine").chmod(0o755)
    script = tmp_path / "flotilla"
    script.write_text(head)
    result = subprocess.run(["bash", str(script), command], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert marker.exists() is prepares_machine
