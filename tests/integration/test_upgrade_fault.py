"""Fault: a manager becomes unreachable between two manager steps of a rolling upgrade.

Three Debian 12 managers form a swarm with playbooks/site.yml. upgrade.yml then rolls a daemon.json
change that needs an engine restart (log max-size 10m -> 20m, which the docker role holds back on
swarm members). The upgrade's documented per-node hook (flotilla_upgrade_after_node_tasks) runs
once the first manager is done and cuts the NEXT manager off the network (a firewall rule inside
it drops everything arriving on its interface: the host keeps running, nobody can reach it, not
even Ansible), a partition at the worst moment. The Raft view still calls that manager reachable
for several seconds, so this also proves the live probe of the managers' Raft ports.

The run must stop before touching the next manager, name it and say why, leave it and the last
manager untouched (daemon.json, engine not restarted, still active), release the lock and write a
report. Once the network is back, the same command resumes: the first manager is skipped and the
other two are rolled.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from hostsnap import inventory, run_playbook

from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts.aptcache import ensure_apt_cache
from flotilla.testhosts.swarm_fixture import exec_in

OWNER = "pytest-upgrade-fault"
MANAGERS = ["uf-m1", "uf-m2", "uf-m3"]
NEW_LOG_OPTS = {"max-size": "20m", "max-file": "3"}
QUORUM_STEP = "Check that quorum survives this manager going down (fresh engine data)"

# Runs inside upgrade.yml for each manager once it is active again. ansible_play_hosts_all is the
# managers' play in plan order (leader last), so [1] is the manager whose turn comes next.
CUT_RULE = "INPUT -i eth0 -j DROP"
FAULT_HOOK = f"""\
- name: Cut the next manager in the plan off the network (fault injection, test only)
  ansible.builtin.command: docker exec {{{{ ansible_play_hosts_all[1] }}}} iptables -I {CUT_RULE}
  delegate_to: localhost
  become: false
  changed_when: true
  when: inventory_hostname == ansible_play_hosts_all[0]
"""


@pytest.fixture(scope="module")
def fault_hosts(engine, built_images):
    # an interrupted earlier run may have left this owner's hosts (cut off, or already upgraded)
    testhosts.down(engine, OWNER, log=lambda _line: None)
    try:
        specs = [{"name": name, "os": "debian12"} for name in MANAGERS]
        yield {host.name: host for host in testhosts.up(engine, OWNER, specs, apt_port=ensure_apt_cache())}
    finally:
        testhosts.down(engine, OWNER, log=lambda _line: None)


@pytest.fixture(scope="module")
def swarm(fault_hosts, tool_env, tmp_path_factory):
    path = inventory(tmp_path_factory.mktemp("uf") / "hosts.yml", fault_hosts, MANAGERS, [])
    result = run_playbook("site.yml", path, tool_env, label="upgrade-fault")
    assert result.returncode == 0, (result.stdout + result.stderr)[-8000:]
    return path


def _words(result: subprocess.CompletedProcess) -> str:
    # the YAML callback wraps long messages: compare words, not line breaks
    return " ".join((result.stdout + result.stderr).split())


def _state(engine, host: testhosts.Host) -> dict[str, str]:
    """What the upgrade may change on a host, read through the machine's engine (no network needed)."""
    return {
        "daemon.json": exec_in(engine, host, "cat /etc/docker/daemon.json"),
        "engine started": exec_in(engine, host, "systemctl show docker -p ActiveEnterTimestampMonotonic"),
    }


def _nodes(engine, manager: testhosts.Host) -> dict[str, tuple[str, str]]:
    """{hostname: (availability, manager status)} as `manager` lists them."""
    listing = exec_in(
        engine, manager, "docker node ls --format '{{.Hostname}} {{.Availability}} {{.ManagerStatus}}'"
    )
    return {
        name: (availability, status)
        for name, availability, status in (line.split() for line in listing.splitlines())
    }


def _report(folder: Path) -> dict:
    reports = sorted(folder.glob("upgrade-*.json"))
    assert len(reports) == 1, f"expected one report in {folder}, found {reports}"
    return json.loads(reports[0].read_text())


def _upgrade(swarm_inventory: Path, env: dict, reports: Path, hook: Path | None = None):
    settings = {"docker_daemon_log_opts": NEW_LOG_OPTS, "flotilla_upgrade_report_dir": str(reports)}
    if hook is not None:
        settings["flotilla_upgrade_after_node_tasks"] = str(hook)
    return run_playbook(
        "upgrade.yml", swarm_inventory, env, "-e", json.dumps(settings), label="upgrade-fault"
    )


@pytest.fixture(scope="module")
def faulted(engine, fault_hosts, swarm, tool_env, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("uf-run")
    hook = scratch / "cut-next-manager.yml"
    hook.write_text(FAULT_HOOK)
    before = {name: _state(engine, host) for name, host in fault_hosts.items()}
    result = _upgrade(swarm, tool_env, scratch / "reports", hook)
    cut = [
        name
        for name, host in fault_hosts.items()
        if f"-A {CUT_RULE}" in exec_in(engine, host, "iptables -S INPUT")
    ]
    assert len(cut) == 1, (
        f"the hook should have cut exactly one manager off, not {cut}\n{_words(result)[-6000:]}"
    )
    report = _report(scratch / "reports")
    first = next((name for name, node in report["nodes"].items() if node["outcome"] == "upgraded"), None)
    return {
        "result": result,
        "words": _words(result),
        "report": report,
        "cut": cut[0],
        "first": first,
        "last": next(name for name in MANAGERS if name not in (cut[0], first)),
        "before": before,
        "after": {name: _state(engine, host) for name, host in fault_hosts.items()},
    }


def test_the_run_stops_before_the_unreachable_manager_and_says_which_and_why(faulted):
    words, cut = faulted["words"], faulted["cut"]
    assert faulted["result"].returncode != 0, words[-6000:]
    assert f"The rolling upgrade stopped at {cut}" in words, words[-6000:]
    assert f"{cut} must not go down now: {cut} is unreachable (no answer on its Raft port" in words, words[
        -6000:
    ]
    assert f"{cut} is untouched (the run stopped before draining it)" in words, words[-6000:]
    assert "re-run the same command" in words


def test_only_the_manager_before_the_fault_changed(faulted, engine, fault_hosts):
    first, cut, last = faulted["first"], faulted["cut"], faulted["last"]
    assert first is not None, json.dumps(faulted["report"], indent=2)
    assert '"max-size": "20m"' in faulted["after"][first]["daemon.json"]
    assert faulted["after"][first]["engine started"] != faulted["before"][first]["engine started"]
    for name in (cut, last):
        assert faulted["after"][name] == faulted["before"][name], f"{name} was touched"
    nodes = _nodes(engine, fault_hosts[first])
    assert nodes[cut][0] == "Active" and nodes[last][0] == "Active", nodes
    locks = exec_in(engine, fault_hosts[first], "docker config ls --format '{{.Name}}'")
    assert "flotilla-lock" not in locks.split(), "the cluster lock was not released"


def test_the_report_records_the_stop(faulted):
    report, cut = faulted["report"], faulted["cut"]
    assert report["outcome"] == "failed" and report["failed_nodes"] == [cut]
    nodes = report["nodes"]
    assert nodes[faulted["first"]]["outcome"] == "upgraded"
    assert nodes[cut]["outcome"] == "failed"
    assert nodes[cut]["failed_step"] == QUORUM_STEP
    assert nodes[cut]["left_drained"] is False
    assert nodes[cut]["failed_stage"] == "untouched"
    assert nodes[faulted["last"]]["outcome"] == "not reached"


def _reconnect(engine, host: testhosts.Host, timeout: float = 120) -> None:
    """Drop the fault's firewall rule and wait until the swarm sees the manager again."""
    exec_in(engine, host, f"iptables -D {CUT_RULE}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = exec_in(engine, host, "docker node ls --format '{{.ManagerStatus}}' 2>/dev/null || true")
        if sorted(statuses.split()) == ["Leader", "Reachable", "Reachable"]:
            return
        time.sleep(2)
    pytest.fail(f"{host.name} did not rejoin the managers within {timeout:.0f}s: {statuses!r}")


def test_the_same_command_resumes_once_the_network_is_back(
    faulted, engine, fault_hosts, swarm, tool_env, tmp_path
):
    _reconnect(engine, fault_hosts[faulted["cut"]])
    result = _upgrade(swarm, tool_env, tmp_path / "reports")
    assert result.returncode == 0, _words(result)[-8000:]
    nodes = _report(tmp_path / "reports")["nodes"]
    assert nodes[faulted["first"]]["outcome"] == "skipped", nodes
    assert (
        nodes[faulted["cut"]]["outcome"] == "upgraded" and nodes[faulted["last"]]["outcome"] == "upgraded"
    ), nodes
    for name, host in fault_hosts.items():
        assert '"max-size": "20m"' in exec_in(engine, host, "cat /etc/docker/daemon.json"), name
    assert {availability for availability, _ in _nodes(engine, fault_hosts[MANAGERS[0]]).values()} == {
        "Active"
    }
