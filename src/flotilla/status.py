"""`flotilla status`: run playbooks/status.yml and print the cluster's status.

The playbook does the work (any `ansible-playbook` user gets the same result with
`-e flotilla_status_output=FILE`); this only runs it, reads the JSON it wrote and prints it.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from flotilla.runner import run_playbook

EXIT_HEALTHY = 0
EXIT_UNREADABLE = 1
EXIT_PROBLEMS = 2


def render(report: dict, as_json: bool) -> str:
    """The text `flotilla status` prints for the playbook's JSON output."""
    if as_json:
        return json.dumps(report["status"], indent=2, sort_keys=True) + "\n"
    lines = list(report.get("lines") or [])
    if report.get("read_from"):
        lines.append(f"(read from {report['read_from']})")
    return "\n".join(lines) + "\n"


def status(inventory: Path, as_json: bool = False, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Print the status; exit code 0 healthy, 2 read but with problems, 1 not readable."""
    if not inventory.exists():
        err.write(f"flotilla status: no inventory at {inventory}\n")
        return EXIT_UNREADABLE
    workdir = Path(tempfile.mkdtemp(prefix="flotilla-status-"))
    workdir.chmod(0o700)
    target = workdir / "status.json"
    progress = io.StringIO()
    try:
        result = run_playbook(
            "status.yml", inventory.resolve(), extravars={"flotilla_status_output": str(target)}, out=progress
        )
        if not result.ok or not target.is_file():
            err.write(
                f"flotilla status: the status playbook did not finish ({result.status}, rc {result.rc})\n"
            )
            for failure in result.failures:
                err.write(f"  {failure}\n")
            return EXIT_UNREADABLE
        report = json.loads(target.read_text())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out.write(render(report, as_json))
    return EXIT_HEALTHY if report["status"].get("healthy") else EXIT_PROBLEMS
