"""A swarm's life through the playbooks, on real test hosts: check, form, grow, shrink, reset.

Seven Debian 12 hosts are started once for the module. site.yml in check mode against the fresh
hosts must complete and say what it would do; site.yml forms 3 managers + 1 worker; check mode
against that converged cluster reports no change; the inventory grows by a worker and two
managers (3 -> 5 managers) and only the new hosts change; remove_node.yml takes out a manager and
a worker while a replicated busybox service keeps its replicas and the managers keep quorum;
reset.yml refuses without confirmation (nothing changes) and with it leaves every node inactive.
The tests depend on each other's order (one cluster, as an operator would live through it).
"""

from __future__ import annotations

import subprocess
import time

import pytest
from hostsnap import inventory, recap, run_playbook, snapshots, ssh

from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts.aptcache import ensure_apt_cache

OWNER = "pytest-swarm-lifecycle"
FIRST_MANAGERS = ["lc-m1", "lc-m2", "lc-m3"]
FIRST_WORKERS = ["lc-w1"]
NEW_MANAGERS = ["lc-m4", "lc-m5"]
NEW_WORKERS = ["lc-w2"]
ALL = FIRST_MANAGERS + NEW_MANAGERS + FIRST_WORKERS + NEW_WORKERS
SERVICE = "lc-web"
REPLICAS = 3


@pytest.fixture(scope="module")
def lc_hosts(engine, built_images):
    try:
        specs = [{"name": name, "os": "debian12"} for name in ALL]
        yield {host.name: host for host in testhosts.up(engine, OWNER, specs, apt_port=ensure_apt_cache())}
    finally:
        testhosts.down(engine, OWNER, log=lambda _line: None)


@pytest.fixture(scope="module")
def first_inventory(lc_hosts, tmp_path_factory):
    return inventory(tmp_path_factory.mktemp("lc") / "first.yml", lc_hosts, FIRST_MANAGERS, FIRST_WORKERS)


@pytest.fixture(scope="module")
def grown_inventory(lc_hosts, tmp_path_factory):
    return inventory(
        tmp_path_factory.mktemp("lc") / "grown.yml",
        lc_hosts,
        FIRST_MANAGERS + NEW_MANAGERS,
        FIRST_WORKERS + NEW_WORKERS,
    )


def _output(result: subprocess.CompletedProcess) -> str:
    # the YAML callback wraps long messages: compare words, not line breaks
    return " ".join((result.stdout + result.stderr).split())


def _nodes(manager: testhosts.Host) -> dict[str, tuple[str, str, str]]:
    """{hostname: (status, availability, manager status)} as a manager lists them."""
    listing = ssh(
        manager, "docker node ls --format '{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}'"
    )
    nodes = {}
    for line in listing.splitlines():
        name, status, availability, *manager_status = line.split()
        nodes[name] = (status, availability, manager_status[0] if manager_status else "")
    return nodes


def test_check_mode_on_fresh_hosts_completes_and_changes_nothing(lc_hosts, first_inventory, tool_env):
    targets = {name: lc_hosts[name] for name in FIRST_MANAGERS + FIRST_WORKERS}
    before = snapshots(targets)
    result = run_playbook("site.yml", first_inventory, tool_env, "--check", "--diff", label="lifecycle")
    output = _output(result)
    assert result.returncode == 0, output[-8000:]
    assert "would install docker.io" in output, output[-6000:]
    assert "initialise the swarm here" in output and "join the swarm as a worker" in output, output[-6000:]
    assert snapshots(targets) == before, "check mode changed a fresh host"


@pytest.fixture(scope="module")
def converged(lc_hosts, first_inventory, tool_env):
    result = run_playbook("site.yml", first_inventory, tool_env, label="lifecycle")
    assert result.returncode == 0, _output(result)[-8000:]
    return lc_hosts


def test_first_run_forms_three_managers_and_a_worker(converged):
    nodes = _nodes(converged["lc-m1"])
    assert set(nodes) == set(FIRST_MANAGERS + FIRST_WORKERS)
    assert all(status == "Ready" and availability == "Active" for status, availability, _ in nodes.values())
    assert sorted(nodes[name][2] for name in FIRST_MANAGERS) == ["Leader", "Reachable", "Reachable"]
    assert nodes["lc-w1"][2] == ""


def test_check_mode_on_the_converged_cluster_reports_no_change(converged, first_inventory, tool_env):
    result = run_playbook("site.yml", first_inventory, tool_env, "--check", "--diff", label="lifecycle")
    output = _output(result)
    assert result.returncode == 0, output[-8000:]
    counts = recap(result.stdout)
    assert set(counts) == set(FIRST_MANAGERS + FIRST_WORKERS)
    assert {name: c["changed"] for name, c in counts.items()} == dict.fromkeys(counts, 0), output[-8000:]


@pytest.fixture(scope="module")
def grown(converged, grown_inventory, tool_env):
    old = {name: converged[name] for name in FIRST_MANAGERS + FIRST_WORKERS}
    before = snapshots(old, cluster=False)
    result = run_playbook("site.yml", grown_inventory, tool_env, label="lifecycle")
    output = _output(result)
    assert result.returncode == 0, output[-8000:]
    return {
        "before": before,
        "after": snapshots(old, cluster=False),
        "recap": recap(result.stdout),
        "output": output,
    }


def test_grow_to_five_managers_changes_only_the_new_hosts(grown, converged):
    counts = grown["recap"]
    for name in NEW_MANAGERS + NEW_WORKERS:
        assert counts[name]["changed"] > 0, f"{name} was not provisioned: {counts}"
    for name in FIRST_MANAGERS + FIRST_WORKERS:
        # The leading manager carries the one cluster-wide step for the newcomers (their node
        # specs); nothing on an existing host itself may change.
        allowed = 1 if name == "lc-m1" else 0
        assert counts[name]["changed"] <= allowed, f"{name} changed: {counts}\n{grown['output'][-6000:]}"
    assert grown["after"] == grown["before"], "an existing host changed (packages, /etc/docker, engine, role)"
    nodes = _nodes(converged["lc-m1"])
    assert set(nodes) == set(ALL)
    managers = [nodes[name][2] for name in FIRST_MANAGERS + NEW_MANAGERS]
    assert sorted(managers) == ["Leader"] + ["Reachable"] * 4, nodes
    assert all(nodes[name][2] == "" for name in FIRST_WORKERS + NEW_WORKERS), nodes
    assert all(status == "Ready" for status, _, _ in nodes.values()), nodes


def _load_busybox(hosts: dict[str, testhosts.Host], archive: str) -> None:
    """`docker load` the service image into every node (there is no registry here)."""
    for host in hosts.values():
        with open(archive, "rb") as data:
            ssh(host, "docker load >/dev/null", stdin=data, timeout=180)


def _running(manager: testhosts.Host) -> int:
    states = ssh(
        manager,
        f"docker service ps {SERVICE} --filter desired-state=running --format '{{{{.CurrentState}}}}'",
    )
    return sum(1 for line in states.splitlines() if line.startswith("Running"))


def _wait_running(manager: testhosts.Host, want: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    running = _running(manager)
    while running != want and time.monotonic() < deadline:
        time.sleep(2)
        running = _running(manager)
    return running


@pytest.fixture(scope="module")
def service(grown, converged, built_images):
    _load_busybox(converged, built_images["busybox"])
    manager = converged["lc-m1"]
    ssh(
        manager,
        f"docker service create --detach --name {SERVICE} --replicas {REPLICAS} --endpoint-mode dnsrr"
        " flotilla/busybox:latest busybox httpd -f -p 8000 >/dev/null",
    )
    assert _wait_running(manager, REPLICAS) == REPLICAS
    return manager


@pytest.mark.parametrize("removed", ["lc-m5", "lc-w2"])
def test_remove_node_keeps_the_replicas_and_the_quorum(
    removed, service, converged, grown_inventory, tool_env
):
    result = run_playbook(
        "remove_node.yml", grown_inventory, tool_env, "-e", f"swarm_remove_node={removed}", label="lifecycle"
    )
    assert result.returncode == 0, _output(result)[-8000:]
    assert ssh(converged[removed], "docker info --format '{{.Swarm.LocalNodeState}}'").strip() == "inactive"
    nodes = _nodes(service)
    assert removed not in nodes, nodes
    assert _wait_running(service, REPLICAS, timeout=60) == REPLICAS, "the service lost replicas"
    manager_states = [state for _, _, state in nodes.values() if state]
    # quorum: a leader exists and every remaining manager is reachable (4 of 4, majority 3)
    assert manager_states.count("Leader") == 1 and len(manager_states) == 4, nodes
    assert set(manager_states) <= {"Leader", "Reachable"}, nodes


def test_reset_refuses_without_confirmation_and_changes_nothing(
    service, converged, grown_inventory, tool_env
):
    before = snapshots(converged)
    result = run_playbook("reset.yml", grown_inventory, tool_env, label="lifecycle")
    output = _output(result)
    assert result.returncode != 0, output[-4000:]
    assert "flotilla_confirm_reset=true" in output, output[-4000:]
    assert snapshots(converged) == before, "a refused reset changed a host"


def test_reset_with_confirmation_leaves_every_node_inactive(service, converged, grown_inventory, tool_env):
    result = run_playbook(
        "reset.yml", grown_inventory, tool_env, "-e", "flotilla_confirm_reset=true", label="lifecycle"
    )
    assert result.returncode == 0, _output(result)[-8000:]
    states = {
        name: ssh(host, "docker info --format '{{.Swarm.LocalNodeState}}'").strip()
        for name, host in converged.items()
    }
    assert states == dict.fromkeys(ALL, "inactive")
