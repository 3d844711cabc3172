# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Aggregate callback: a JSON summary of every ansible-playbook run, for any user of the playbooks."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime

from ansible import context
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: flotilla_report
type: aggregate
short_description: Write a JSON summary of each playbook run to FLOTILLA_REPORT_DIR
version_added: 0.1.0
description:
  - Records, per host, the ok, changed, failed, skipped, rescued and unreachable counts, the names
    of the tasks that changed something, and the messages of failures; plus the playbooks, the
    start and end time and the duration of the run.
  - Writes C(<playbook>-<UTC timestamp>-<pid>.json) with mode 0600 into O(report_dir) at the end of
    the run. Does nothing when O(report_dir) is unset, so enabling it costs nothing by default.
  - Never records anything from a task result marked C(no_log) - its failure is recorded as hidden.
    Task names are recorded as the run's output shows them.
requirements:
  - enable in ansible.cfg with C(callbacks_enabled = flotilla.cluster.flotilla_report)
options:
  report_dir:
    description: Directory for the reports (created with mode 0700); unset disables the callback.
    type: path
    env:
      - name: FLOTILLA_REPORT_DIR
    ini:
      - section: flotilla_report
        key: report_dir
"""

MAX_MESSAGE = 2000
HIDDEN = "(hidden: the task is no_log)"


def _no_log(result) -> bool:
    task = getattr(result, "_task", None)
    if task is not None and getattr(task, "no_log", False):
        return True
    return bool((getattr(result, "_result", None) or {}).get("_ansible_no_log"))


def _host(result) -> str:
    return result._host.get_name()


def _task_name(result) -> str:
    task = result._task
    return task.get_name() if hasattr(task, "get_name") else str(task)


def _message(result) -> str:
    if _no_log(result):
        return HIDDEN
    data = result._result or {}
    text = data.get("msg") or data.get("stderr") or data.get("reason") or "failed"
    return str(text)[:MAX_MESSAGE]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "flotilla.cluster.flotilla_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self.started = time.time()
        self.playbooks = []
        self.hosts = {}
        self.check_mode = bool((context.CLIARGS or {}).get("check", False))

    def _entry(self, host: str) -> dict:
        return self.hosts.setdefault(
            host,
            {
                "ok": 0,
                "changed": 0,
                "failed": 0,
                "skipped": 0,
                "rescued": 0,
                "ignored": 0,
                "unreachable": 0,
                "changed_tasks": [],
                "failures": [],
            },
        )

    def v2_playbook_on_start(self, playbook):
        self.playbooks.append(os.path.basename(getattr(playbook, "_file_name", "") or "playbook"))

    def v2_runner_on_ok(self, result):
        entry = self._entry(_host(result))
        if (result._result or {}).get("changed"):
            name = _task_name(result)
            if name not in entry["changed_tasks"]:
                entry["changed_tasks"].append(name)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors:
            return
        self._entry(_host(result))["failures"].append({"task": _task_name(result), "msg": _message(result)})

    def v2_runner_on_unreachable(self, result):
        self._entry(_host(result))["failures"].append(
            {"task": _task_name(result), "msg": "unreachable: " + _message(result)}
        )

    def v2_playbook_on_stats(self, stats):
        report_dir = self.get_option("report_dir")
        if not report_dir:
            return
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            entry = self._entry(host)
            for key in ("ok", "changed", "skipped", "rescued", "ignored"):
                entry[key] = summary.get(key, 0)
            entry["failed"] = summary.get("failures", 0)
            entry["unreachable"] = summary.get("unreachable", 0)
        finished = time.time()
        report = {
            "kind": "flotilla-run",
            "playbooks": self.playbooks,
            "started": self.started,
            "finished": finished,
            "duration_seconds": round(finished - self.started, 1),
            "check_mode": self.check_mode,
            "outcome": "failed"
            if any(h["failed"] or h["unreachable"] for h in self.hosts.values())
            else "succeeded",
            "hosts": self.hosts,
        }
        try:
            self._write(report_dir, report)
        except OSError as exc:
            self._display.warning(f"flotilla_report: cannot write the run report into {report_dir}: {exc}")

    def _write(self, report_dir: str, report: dict) -> None:
        os.makedirs(report_dir, mode=0o700, exist_ok=True)
        stem = os.path.splitext(self.playbooks[0] if self.playbooks else "run")[0]
        stamp = datetime.fromtimestamp(self.started, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
        path = os.path.join(report_dir, f"{stem}-{stamp}-{os.getpid()}.json")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2, sort_keys=True)
            handle.write("\n")
        self._display.display(f"flotilla_report: run report written to {path}")
