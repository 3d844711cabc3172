"""`flotilla status`: renders what playbooks/status.yml wrote, and its exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from unittest import mock

import pytest

from flotilla import cli, status
from flotilla.runner import RunResult

REPORT = {
    "status": {"healthy": True, "nodes": [{"hostname": "m1"}], "problems": []},
    "lines": ["NODE  ROLE", "m1 *  manager"],
    "read_from": "m1",
}


def test_render_table_and_json():
    assert status.render(REPORT, as_json=False) == "NODE  ROLE\nm1 *  manager\n(read from m1)\n"
    assert json.loads(status.render(REPORT, as_json=True)) == REPORT["status"]


@pytest.mark.parametrize(("healthy", "code"), [(True, 0), (False, 2)])
def test_status_runs_the_playbook_and_prints(tmp_path, healthy, code):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")
    report = dict(REPORT, status=dict(REPORT["status"], healthy=healthy))

    def fake_run(playbook, inv, extravars=None, out=None, **kwargs):
        assert playbook == "status.yml" and inv == inventory.resolve()
        Path(extravars["flotilla_status_output"]).write_text(json.dumps(report))
        return RunResult(status="successful", rc=0, seconds=1.0)

    out = io.StringIO()
    with mock.patch.object(status, "run_playbook", fake_run):
        assert status.status(inventory, as_json=True, out=out) == code
    assert json.loads(out.getvalue())["healthy"] is healthy


def test_status_reports_a_failed_run(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")
    failed = RunResult(status="failed", rc=2, seconds=1.0, failures=["m1: Read: cannot reach"])
    err = io.StringIO()
    with mock.patch.object(status, "run_playbook", return_value=failed):
        assert status.status(inventory, err=err) == 1
    assert "m1: Read: cannot reach" in err.getvalue()


def test_missing_inventory(tmp_path):
    err = io.StringIO()
    assert status.status(tmp_path / "nope.yml", err=err) == 1
    assert "no inventory" in err.getvalue()


def test_cli_has_status_and_keeps_the_other_commands():
    args = cli.parser().parse_args(["status", "-i", "inv.yml", "--json"])
    assert (args.command, args.inventory, args.json) == ("status", "inv.yml", True)
    for existing in (["lab", "status"], ["test"], ["testhosts", "down", "--owner", "x"]):
        assert cli.parser().parse_args(existing).command == existing[0]
