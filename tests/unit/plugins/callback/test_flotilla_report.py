# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The run-report callback: counts and changed tasks per host, nothing from no_log results."""

from __future__ import annotations

import json
import stat
from unittest import mock

from ansible.executor.stats import AggregateStats
from ansible_collections.flotilla.cluster.plugins.callback import flotilla_report


def result(host, name, data, no_log=False):
    task = mock.Mock(no_log=no_log)
    task.get_name.return_value = name
    outcome = mock.Mock(_task=task, _result=data)
    outcome._host.get_name.return_value = host
    return outcome


def plugin(report_dir):
    callback = flotilla_report.CallbackModule(display=mock.Mock(verbosity=0))
    # Option resolution (env FLOTILLA_REPORT_DIR, ini) is Ansible's; the plugin only reads the value.
    callback.get_option = {"report_dir": str(report_dir) if report_dir else None}.get
    return callback


def test_report_counts_changes_and_hides_no_log_failures(tmp_path):
    callback = plugin(tmp_path / "reports")
    callback.v2_playbook_on_start(mock.Mock(_file_name="/x/playbooks/upgrade.yml"))
    callback.v2_runner_on_ok(result("m1", "Write daemon.json", {"changed": True}))
    callback.v2_runner_on_ok(result("m1", "Write daemon.json", {"changed": True}))
    callback.v2_runner_on_ok(result("m1", "Probe", {"changed": False}))
    callback.v2_runner_on_failed(result("w1", "Join", {"msg": "token SWMTKN-1-secret refused"}, no_log=True))
    callback.v2_runner_on_failed(result("w1", "Drain", {"msg": "timed out"}))
    callback.v2_runner_on_failed(result("w1", "Probe", {"msg": "ignored"}), ignore_errors=True)
    callback.v2_runner_on_failed(result("w1", "Secret", {"msg": "x", "_ansible_no_log": True}))
    stats = AggregateStats()
    for host, what in (("m1", "ok"), ("m1", "changed"), ("w1", "failures")):
        stats.increment(what, host)
    callback.v2_playbook_on_stats(stats)

    files = list((tmp_path / "reports").glob("upgrade-*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "reports").stat().st_mode) == 0o700
    text = files[0].read_text()
    assert "SWMTKN" not in text
    report = json.loads(text)
    assert report["playbooks"] == ["upgrade.yml"] and report["outcome"] == "failed"
    assert report["hosts"]["m1"]["changed_tasks"] == ["Write daemon.json"]
    assert report["hosts"]["m1"]["changed"] == 1
    assert report["hosts"]["w1"]["failed"] == 1
    assert report["hosts"]["w1"]["failures"] == [
        {"task": "Join", "msg": flotilla_report.HIDDEN},
        {"task": "Drain", "msg": "timed out"},
        {"task": "Secret", "msg": flotilla_report.HIDDEN},
    ]


def test_no_report_dir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    callback = plugin(None)
    callback.v2_playbook_on_stats(AggregateStats())
    assert list(tmp_path.iterdir()) == []
