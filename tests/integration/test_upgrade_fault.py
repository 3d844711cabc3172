"""Faults in a rolling upgrade of an autolocked swarm: a lost manager, a lost acting manager, a
run limited to one worker, a run killed mid-drain. One cluster, shared in test order.

Three Debian 12 managers and a worker form an AUTOLOCKED swarm with playbooks/site.yml (the
controller keeps the unlock key in swarm_unlock_key_dest), so every manager the upgrade restarts
comes back locked and the run must unlock it with that key, which must never reach the output.

upgrade.yml then rolls a daemon.json change that needs an engine restart (log max-size 10m -> 20m,
which the docker role holds back on swarm members). The upgrade's documented per-node hook
(flotilla_upgrade_after_node_tasks) runs
once the first manager is done and cuts the NEXT manager off the network (a firewall rule inside
it drops everything arriving on its interface: the host keeps running, nobody can reach it, not
even Ansible), a partition at the worst moment. The Raft view still calls that manager reachable
for several seconds, so this also proves the live probe of the managers' Raft ports.

The run must stop before touching the next manager, name it and say why, leave it and the last
manager untouched (daemon.json, engine not restarted, still active), release the lock and write a
report.

Then, on the same cluster and the same change:
* ``--limit`` to the worker rolls the worker alone, acting from a manager outside the limit;
* the acting manager is cut off (its host drops everything) right before it acts for the next
  node: the run ends with a report, says which manager it lost, and releases the lock from another
  manager (or names it and the command to break it);
* a run killed (SIGKILL) while it drains a node that takes long to empty leaves the lock naming
  that node and the drain step; the next run refuses with the holder, node, step and the break
  command; breaking the lock resumes: the managers left are rolled, the rest skipped, every
  manager ends unlocked, ready, active and reachable, and each readiness wait took > 0.5 s (the
  engine restart was proven, not assumed). The key never appears, even at -vvv.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hostsnap import ROOT, inventory, run_playbook

from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts.aptcache import ensure_apt_cache
from flotilla.testhosts.swarm_fixture import exec_in, load_busybox

OWNER = "pytest-upgrade-fault"
MANAGERS = ["uf-m1", "uf-m2", "uf-m3"]
WORKER = "h1-uf-w1"
# A host that vanishes mid-task (its packets dropped) comes back UNREACHABLE once ssh's keepalives
# go unanswered: ansible.cfg's 15 s x 3 is 45 s, shortened here to keep the test short.
SSH_ARGS = "-o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=2 -o ServerAliveCountMax=3"
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
        specs = [{"name": name, "os": "debian12"} for name in [*MANAGERS, WORKER]]
        yield {host.name: host for host in testhosts.up(engine, OWNER, specs, apt_port=ensure_apt_cache())}
    finally:
        testhosts.down(engine, OWNER, log=lambda _line: None)


@pytest.fixture(scope="module")
def unlock_key_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("uf-key") / "unlock.key"


@pytest.fixture(scope="module")
def swarm(fault_hosts, tool_env, tmp_path_factory, unlock_key_file):
    settings = {"swarm_autolock": True, "swarm_unlock_key_dest": str(unlock_key_file)}
    ssh_args = {name: {"ansible_ssh_args": SSH_ARGS} for name in fault_hosts}
    path = inventory(
        tmp_path_factory.mktemp("uf") / "hosts.yml", fault_hosts, MANAGERS, [WORKER], settings, ssh_args
    )
    result = run_playbook("site.yml", path, tool_env, label="upgrade-fault")
    assert result.returncode == 0, (result.stdout + result.stderr)[-8000:]
    assert unlock_key_file.read_text().startswith("SWMKEY-"), "site.yml did not keep the unlock key"
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
    rows = [line.split() for line in listing.splitlines() if line.strip()]
    # a worker has no manager status: "-"
    return {row[0]: (row[1], row[2] if len(row) > 2 else "-") for row in rows}


def _report(folder: Path) -> dict:
    reports = sorted(folder.glob("upgrade-*.json"))
    assert len(reports) == 1, f"expected one report in {folder}, found {reports}"
    return json.loads(reports[0].read_text())


def _settings(reports: Path, **extra) -> list[str]:
    settings = {"docker_daemon_log_opts": NEW_LOG_OPTS, "flotilla_upgrade_report_dir": str(reports), **extra}
    return ["-e", json.dumps(settings)]


def _upgrade(
    swarm_inventory: Path, env: dict, reports: Path, hook: Path | None = None, *extra: str, **settings
):
    if hook is not None:
        settings["flotilla_upgrade_after_node_tasks"] = str(hook)
    return run_playbook(
        "upgrade.yml", swarm_inventory, env, *_settings(reports, **settings), *extra, label="upgrade-fault"
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


def _wait_managers(engine, host: testhosts.Host, timeout: float = 120) -> None:
    """Wait until `host` lists three managers again, one the leader."""
    deadline = time.monotonic() + timeout
    statuses = ""
    while time.monotonic() < deadline:
        statuses = exec_in(engine, host, "docker node ls --format '{{.ManagerStatus}}' 2>/dev/null || true")
        if sorted(statuses.split()) == ["Leader", "Reachable", "Reachable"]:
            return
        time.sleep(2)
    pytest.fail(f"{host.name} does not list all managers back within {timeout:.0f}s: {statuses!r}")


def _reconnect(engine, host: testhosts.Host) -> None:
    """Drop the fault's firewall rule and wait until the swarm sees the manager again."""
    exec_in(engine, host, f"iptables -D {CUT_RULE}")
    _wait_managers(engine, host)


def _lock(engine, manager: testhosts.Host) -> dict | None:
    """The lock config's labels as a manager reads them; None when there is no lock."""
    names = exec_in(engine, manager, "docker config ls --format '{{.Name}}'").split()
    if "flotilla-lock" not in names:
        return None
    return json.loads(
        exec_in(engine, manager, "docker config inspect flotilla-lock --format '{{json .Spec.Labels}}'")
    )


def _daemon_json(engine, host: testhosts.Host) -> str:
    return exec_in(engine, host, "cat /etc/docker/daemon.json")


def test_limit_to_one_worker_rolls_it_alone_from_a_manager_outside_the_limit(
    faulted, engine, fault_hosts, swarm, tool_env, tmp_path
):
    _reconnect(engine, fault_hosts[faulted["cut"]])
    managers_before = {name: _state(engine, fault_hosts[name]) for name in (faulted["cut"], faulted["last"])}
    result = _upgrade(swarm, tool_env, tmp_path / "reports", None, "--limit", WORKER)
    assert result.returncode == 0, _words(result)[-8000:]
    report = _report(tmp_path / "reports")
    assert list(report["nodes"]) == [WORKER], report["nodes"]
    assert report["nodes"][WORKER]["outcome"] == "upgraded"
    assert report["lock_after"] == "released"
    assert report["acting_managers"] and WORKER not in report["acting_managers"]
    assert '"max-size": "20m"' in _daemon_json(engine, fault_hosts[WORKER])
    for name, before in managers_before.items():
        assert _state(engine, fault_hosts[name]) == before, f"{name} was touched by a run limited to {WORKER}"
    assert _nodes(engine, fault_hosts[MANAGERS[0]])[WORKER][0] == "Active"
    assert _lock(engine, fault_hosts[faulted["first"]]) is None


# Runs before each node goes down; cuts off the manager chosen to act for the first node in the plan.
CUT_ACTOR_HOOK = f"""\
- name: Cut the acting manager off the network (fault injection, test only)
  ansible.builtin.command: docker exec {{{{ __flotilla_upgrade_actor }}}} iptables -I {CUT_RULE}
  delegate_to: localhost
  become: false
  changed_when: true
  when: inventory_hostname == ansible_play_hosts_all[0]
"""


def test_a_lost_acting_manager_ends_the_run_with_a_report_and_a_handled_lock(
    faulted, engine, fault_hosts, swarm, tool_env, tmp_path
):
    hook = tmp_path / "cut-actor.yml"
    hook.write_text(CUT_ACTOR_HOOK)
    result = _upgrade(
        swarm, tool_env, tmp_path / "reports", None, flotilla_upgrade_before_node_tasks=str(hook)
    )
    words = _words(result)
    cut = [
        name
        for name in MANAGERS
        if f"-A {CUT_RULE}" in exec_in(engine, fault_hosts[name], "iptables -S INPUT")
    ]
    try:
        assert len(cut) == 1, f"the hook should have cut one acting manager, not {cut}\n{words[-6000:]}"
        actor = cut[0]
        assert result.returncode != 0, words[-6000:]
        report = _report(tmp_path / "reports")
        assert report["outcome"] == "failed" and len(report["failed_nodes"]) == 1, report
        node = report["failed_nodes"][0]
        assert node != actor
        assert f"the acting manager {actor} stopped answering" in words, words[-6000:]
        assert report["nodes"][node]["failed_stage"] == "before-tasks", report["nodes"][node]
        assert report["nodes"][node]["left_drained"] is False
        # released from another manager, or named with the command that breaks it
        if report["lock_after"] == "released":
            assert "the cluster lock is released" in words
        else:
            assert report["lock_after"] == "held", report
            assert "STILL HELD by this run" in words and "docker config rm flotilla-lock" in words, words[
                -4000:
            ]
    finally:
        for name in cut:
            exec_in(engine, fault_hosts[name], f"iptables -D {CUT_RULE}")
    _wait_managers(engine, fault_hosts[faulted["first"]])
    if _lock(engine, fault_hosts[faulted["first"]]) is not None:
        exec_in(engine, fault_hosts[faulted["first"]], "docker config rm flotilla-lock")


# A global service whose tasks ignore SIGTERM for up to 90 s: draining any node waits for its task.
SLOW_SERVICE = (
    "docker service create --quiet --detach --name h1-slow-stop --mode global --stop-grace-period 90s "
    "flotilla/busybox:latest busybox sh -c \"trap '' TERM; while :; do busybox sleep 1; done\""
)
DRAIN_STEP = "Drain the node and wait until its tasks run elsewhere"


@pytest.fixture(scope="module")
def interrupted(faulted, engine, fault_hosts, swarm, tool_env, tmp_path_factory, built_images):
    manager = fault_hosts[faulted["first"]]
    load_busybox(engine, list(fault_hosts.values()), Path(built_images["busybox"]))
    exec_in(engine, manager, SLOW_SERVICE)
    scratch = tmp_path_factory.mktemp("uf-kill")
    command = ["ansible-playbook", "-i", str(swarm), "playbooks/upgrade.yml", *_settings(scratch / "reports")]
    log = scratch / "killed-run.log"
    labels, deadline = None, time.monotonic() + 600
    # a file, not a pipe: a full pipe would stall the run before it reaches the drain
    with log.open("w") as sink:
        run = subprocess.Popen(  # noqa: S603 - the test's own command line
            command, cwd=ROOT, env=tool_env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            while time.monotonic() < deadline and run.poll() is None:
                labels = _lock(engine, manager)
                if labels and labels.get("org.flotilla.lock.step") == DRAIN_STEP:
                    time.sleep(3)  # well inside the drain: the slow task holds it for 90 s
                    break
                time.sleep(1)
        finally:
            with contextlib.suppress(ProcessLookupError):  # a run that ended by itself
                os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=60)
    output = " ".join(log.read_text(errors="replace").split())
    assert labels and labels.get("org.flotilla.lock.step") == DRAIN_STEP, (labels, output[-8000:])
    refused = _upgrade(swarm, tool_env, scratch / "refused")
    return {
        "labels": _lock(engine, manager),
        "draining": labels["org.flotilla.lock.node"],
        "refused": refused,
    }


def test_a_killed_run_leaves_the_lock_naming_the_node_and_the_drain_step(interrupted, faulted):
    labels = interrupted["labels"]
    assert labels is not None, "the killed run's lock is gone"
    assert labels["org.flotilla.lock.node"] == interrupted["draining"]
    assert interrupted["draining"] in (faulted["cut"], faulted["last"])
    assert labels["org.flotilla.lock.step"] == DRAIN_STEP
    assert float(labels["org.flotilla.lock.at"]) > time.time() - 900


def test_the_next_run_refuses_with_holder_node_step_and_the_break_command(interrupted):
    words = _words(interrupted["refused"])
    assert interrupted["refused"].returncode != 0
    assert "holds the cluster lock" in words, words[-6000:]
    assert f'at node {interrupted["draining"]}, step "{DRAIN_STEP}"' in words, words[-6000:]
    assert "docker config rm flotilla-lock" in words and "-e flotilla_break_lock=true" in words
    assert "Nothing was changed" in words


def test_breaking_the_lock_resumes_and_unlocks_every_manager_without_showing_the_key(
    interrupted, faulted, engine, fault_hosts, swarm, tool_env, tmp_path, unlock_key_file
):
    manager = fault_hosts[faulted["first"]]
    exec_in(engine, manager, "docker service rm h1-slow-stop >/dev/null")
    result = _upgrade(swarm, tool_env, tmp_path / "reports", None, "-vvv", flotilla_break_lock=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, _words(result)[-8000:]
    key = unlock_key_file.read_text().strip()
    assert key and key not in output, "the unlock key reached the output"
    nodes = _report(tmp_path / "reports")["nodes"]
    assert nodes[faulted["first"]]["outcome"] == "skipped" and nodes[WORKER]["outcome"] == "skipped", nodes
    for name in (faulted["cut"], faulted["last"]):
        assert nodes[name]["outcome"] == "upgraded", nodes
        # a real restart happened before "ready": from the restart command to the node registered again
        assert float(nodes[name]["restart_to_ready_seconds"]) > 0.5, nodes[name]
    for name, host in fault_hosts.items():
        assert '"max-size": "20m"' in _daemon_json(engine, host), name
    listing = _nodes(engine, manager)
    assert {availability for availability, _ in listing.values()} == {"Active"}, listing
    assert sorted(listing[name][1] for name in MANAGERS) == ["Leader", "Reachable", "Reachable"], listing
    for name in MANAGERS:
        state = exec_in(engine, fault_hosts[name], "docker info --format '{{.Swarm.LocalNodeState}}'")
        assert state == "active", f"{name} is {state} (still locked?)"
    assert _lock(engine, manager) is None
