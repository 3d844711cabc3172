"""Run the collection's playbooks through ansible-runner, with progress an operator can follow.

Everything here is a convenience over `ansible-playbook`: the same playbook, inventory and
ansible.cfg, so a run that works here works without the CLI too.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import ansible_runner

REPO = Path(__file__).resolve().parents[2]

Log = Callable[[str], None]


def project_root() -> Path:
    """The clone this package runs from: where ansible.cfg, playbooks/ and roles/ are."""
    candidates = (
        [Path(os.environ["FLOTILLA_ROOT"])] if os.environ.get("FLOTILLA_ROOT") else [REPO, Path.cwd()]
    )
    for root in candidates:
        if (root / "ansible.cfg").is_file() and (root / "galaxy.yml").is_file():
            return root
    raise RuntimeError(
        f"no flotilla checkout found at {', '.join(map(str, candidates))} (no ansible.cfg or galaxy.yml); "
        "run from the clone or set FLOTILLA_ROOT"
    )


@dataclass
class RunResult:
    status: str
    rc: int
    seconds: float
    stats: dict = field(default_factory=dict)
    changed_tasks: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rc == 0


class Progress:
    """Turns runner events into one line per play, per task and per host outcome."""

    def __init__(self, out: TextIO, result: RunResult) -> None:
        self.out = out
        self.result = result
        self.started = time.monotonic()
        self.task_started = self.started

    def _line(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.out.write(f"[{int(elapsed // 60):02d}:{elapsed % 60:04.1f}] {text}\n")
        self.out.flush()

    def __call__(self, event: dict) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        host = data.get("host", "")
        task = data.get("task", "")
        if kind == "playbook_on_play_start":
            self._line(f"PLAY {data.get('play', '')}")
        elif kind == "playbook_on_task_start":
            self.task_started = time.monotonic()
        elif kind == "runner_on_ok":
            changed = bool(data.get("res", {}).get("changed"))
            if changed:
                self.result.changed_tasks[host].append(task)
                self._line(f"  {host:<20} changed  {task}")
        elif kind in ("runner_on_failed", "runner_on_unreachable"):
            if kind == "runner_on_failed" and data.get("ignore_errors"):
                return True
            res = data.get("res", {})
            message = res.get("msg") or res.get("stderr") or "failed"
            word = "UNREACHABLE" if kind == "runner_on_unreachable" else "FAILED"
            self.result.failures.append(f"{host}: {task}: {message}")
            self._line(f"  {host:<20} {word}  {task}: {message}")
        elif kind == "playbook_on_stats":
            for key in ("ok", "changed", "failures", "dark", "skipped"):
                for name, count in (data.get(key) or {}).items():
                    self.result.stats.setdefault(name, {})[key] = count
        return True


def run_playbook(
    playbook: str,
    inventory: Path,
    extravars: dict | None = None,
    out: TextIO = sys.stdout,
    check: bool = False,
    limit: str | None = None,
) -> RunResult:
    """Run playbooks/<playbook> against `inventory` and return what happened."""
    root = project_root()
    # ansible-runner starts the `ansible-playbook` it finds on PATH: make it this interpreter's.
    bin_dir = str(Path(sys.executable).parent)
    env_path = os.environ.get("PATH", "")
    if not env_path.startswith(bin_dir + os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + env_path
    private = Path(tempfile.mkdtemp(prefix="flotilla-run-"))
    private.chmod(0o700)
    result = RunResult(status="unstarted", rc=-1, seconds=0.0)
    cmdline = "--check --diff" if check else ""
    started = time.monotonic()
    try:
        runner = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(root),
            playbook=str(root / "playbooks" / playbook),
            inventory=str(inventory),
            extravars=extravars or {},
            envvars={"ANSIBLE_CONFIG": str(root / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"},
            cmdline=cmdline or None,
            limit=limit,
            quiet=True,
            event_handler=Progress(out, result),
        )
        result.status, result.rc = runner.status, runner.rc
    finally:
        result.seconds = time.monotonic() - started
        shutil.rmtree(private, ignore_errors=True)
    return result


def print_summary(result: RunResult, out: TextIO = sys.stdout) -> None:
    out.write(f"\n{'host':<22}{'ok':>5}{'changed':>9}{'failed':>8}{'unreach':>9}\n")
    for host in sorted(result.stats):
        counts = result.stats[host]
        out.write(
            f"{host:<22}{counts.get('ok', 0):>5}{counts.get('changed', 0):>9}"
            f"{counts.get('failures', 0):>8}{counts.get('dark', 0):>9}\n"
        )
    changed = sum(len(tasks) for tasks in result.changed_tasks.values())
    out.write(f"\n{result.status} in {result.seconds:.1f}s; {changed} changes")
    if result.changed_tasks:
        names = sorted({task for tasks in result.changed_tasks.values() for task in tasks})
        out.write(": " + "; ".join(names[:12]) + (" ..." if len(names) > 12 else ""))
    out.write("\n")
    for failure in result.failures:
        out.write(f"  {failure}\n")
