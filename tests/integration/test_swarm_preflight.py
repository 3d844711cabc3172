"""Every swarm preflight refusal, proven on real hosts: the run fails naming the problem, and no host changes.

Three Debian 12 hosts: pf-m1 and pf-w1 form a swarm (one manager, one worker) with site.yml, and
pf-new is fresh (no engine). Each refused run targets all three, as an operator growing the
swarm by pf-new would, and a snapshot of every host (packages, /etc/docker, engine, host name,
Swarm membership and node list, firewall rules) taken before must equal the one taken after.

Clock skew and a full disk cannot be produced here (the hosts share the machine's clock and
disk): their decisions are unit-tested on measured values (tests/unit/.../test_preflight_checks.py).
Here the real measurement runs on every host, and the disk refusal is driven through the real
path by asking for more free space than the measured file system has.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from hostsnap import ROOT, inventory, run_playbook, snapshots, ssh

from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts.aptcache import ensure_apt_cache

OWNER = "pytest-swarm-preflight"
NAMES = ["pf-m1", "pf-w1", "pf-new"]


@pytest.fixture(scope="module")
def pf_hosts(engine, built_images):
    try:
        specs = [{"name": name, "os": "debian12"} for name in NAMES]
        yield {host.name: host for host in testhosts.up(engine, OWNER, specs, apt_port=ensure_apt_cache())}
    finally:
        testhosts.down(engine, OWNER, log=lambda _line: None)


@pytest.fixture(scope="module")
def pf_swarm(pf_hosts, tool_env, tmp_path_factory):
    """pf-m1 + pf-w1 in a swarm; pf-new stays fresh."""
    path = inventory(tmp_path_factory.mktemp("pf") / "formed.yml", pf_hosts, ["pf-m1"], ["pf-w1"])
    result = run_playbook("site.yml", path, tool_env, label="preflight")
    assert result.returncode == 0, (result.stdout + result.stderr)[-8000:]
    return pf_hosts


def _refused(pf_swarm, tool_env, path, *named: str):
    before = snapshots(pf_swarm)
    result = run_playbook("site.yml", path, tool_env, label="preflight")
    # the YAML callback wraps long messages: compare words, not line breaks
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, f"site.yml was not refused:\n{output[-6000:]}"
    for text in named:
        assert text in output, f"the refusal does not say {text!r}:\n{output[-6000:]}"
    assert snapshots(pf_swarm) == before, "a host changed although the run was refused"
    return output


# (managers, workers, group vars, host vars, what the refusal must say)
LAYOUTS = [
    pytest.param(
        ["pf-m1", "pf-new"],
        ["pf-w1"],
        {},
        {},
        ["2 managers tolerate", "use an odd number"],
        id="even-managers",
    ),
    pytest.param(
        [], NAMES, {}, {}, ["no managers", "put 1, 3 or 5 hosts in swarm_managers"], id="no-managers"
    ),
    pytest.param(
        ["pf-m1"], ["pf-w1", "pf-m1", "pf-new"], {}, {}, ["pf-m1 is in both"], id="host-in-both-groups"
    ),
    pytest.param(
        ["pf-m1"],
        ["pf-w1", "pf-new"],
        {},
        {"pf-new": "@pf-m1"},
        ["pf-m1, pf-new all reach"],
        id="duplicate-hosts",
    ),
    pytest.param(
        ["pf-m1"],
        ["pf-w1", "pf-new"],
        {},
        {"pf-w1": {"swarm_advertise_addr": "192.0.2.7"}, "pf-new": {"swarm_advertise_addr": "192.0.2.7"}},
        ["set the same swarm_advertise_addr 192.0.2.7"],
        id="duplicate-advertise-addresses",
    ),
    pytest.param(
        ["pf-m1"],
        ["pf-w1", "pf-new"],
        {"swarm_labels": ["zone=a"]},
        {},
        ["swarm_labels"],
        id="labels-a-list",
    ),
    pytest.param(
        ["pf-m1"],
        ["pf-w1", "pf-new"],
        {"swarm_min_free_disk_mb": "lots"},
        {},
        ["swarm_min_free_disk_mb"],
        id="limit-not-an-int",
    ),
]


@pytest.mark.parametrize(("managers", "workers", "group_vars", "host_vars", "named"), LAYOUTS)
def test_bad_layout_or_types_are_refused_before_any_change(
    managers, workers, group_vars, host_vars, named, pf_swarm, tool_env, tmp_path
):
    # "@host" copies another host's address: two inventory names for one machine
    host_vars = {
        name: ({"ansible_host": pf_swarm[value[1:]].address} if isinstance(value, str) else value)
        for name, value in host_vars.items()
    }
    path = inventory(tmp_path / "hosts.yml", pf_swarm, managers, workers, group_vars, host_vars)
    _refused(pf_swarm, tool_env, path, *named)


def _growing(pf_swarm, tmp_path, group_vars=None, host_vars=None):
    return inventory(tmp_path / "hosts.yml", pf_swarm, ["pf-m1"], ["pf-w1", "pf-new"], group_vars, host_vars)


def test_advertise_address_the_host_lacks_is_refused(pf_swarm, tool_env, tmp_path):
    path = _growing(pf_swarm, tmp_path, host_vars={"pf-new": {"swarm_advertise_addr": "198.51.100.77"}})
    _refused(
        pf_swarm,
        tool_env,
        path,
        "pf-new: swarm_advertise_addr 198.51.100.77 is not an address of this host "
        f"(it has {pf_swarm['pf-new'].address})",
    )


def test_duplicate_system_hostnames_are_refused(pf_swarm, tool_env, tmp_path):
    """Where the run keeps the hosts' own names (prereq_hostname ''), a shared name is refused.

    With the default, prereq names each host after the inventory before its engine starts, and the
    preflight judges the names the run sets (molecule/swarm starts from hosts sharing one name).
    """
    ssh(pf_swarm["pf-new"], "hostname pf-w1")
    try:
        _refused(
            pf_swarm,
            tool_env,
            _growing(pf_swarm, tmp_path, group_vars={"prereq_hostname": ""}),
            "hosts pf-new, pf-w1 share the system host name pf-w1",
        )
    finally:
        ssh(pf_swarm["pf-new"], "hostname pf-new")


def test_blocked_swarm_ports_are_refused(pf_swarm, tool_env, tmp_path):
    """A firewall rule on the manager drops new connections to 2377/tcp, one on the worker drops 4789/udp.

    The test hosts have NET_ADMIN in their own network namespace, so these rules act on that host
    only. The manager's block is seen twice: in its own rules, and as a timeout from the others.
    The worker's UDP block can only be seen in its rules (UDP has no handshake to probe).
    """
    manager_rule = "INPUT -p tcp --dport 2377 -m conntrack --ctstate NEW -j DROP"
    worker_rule = "INPUT -p udp --dport 4789 -j DROP"
    ssh(pf_swarm["pf-m1"], f"iptables -I {manager_rule}")
    ssh(pf_swarm["pf-w1"], f"iptables -I {worker_rule}")
    try:
        _refused(
            pf_swarm,
            tool_env,
            _growing(pf_swarm, tmp_path),
            "pf-m1: its firewall (iptables-save) blocks 2377/tcp",
            "pf-w1: its firewall (iptables-save) blocks 4789/udp",
            f"pf-new: a TCP connection to pf-m1 at {pf_swarm['pf-m1'].address}:2377 timed out",
        )
    finally:
        ssh(pf_swarm["pf-m1"], f"iptables -D {manager_rule}")
        ssh(pf_swarm["pf-w1"], f"iptables -D {worker_rule}")


def test_too_little_disk_is_refused_on_the_real_measurement(pf_swarm, tool_env, tmp_path):
    # No disk can be filled here (shared with the machine): ask for more than any host has instead.
    path = _growing(pf_swarm, tmp_path, group_vars={"swarm_min_free_disk_mb": 1024 * 1024 * 1024})
    output = _refused(pf_swarm, tool_env, path, "below swarm_min_free_disk_mb (1073741824 MB)")
    for name in NAMES:
        assert f"{name}: only " in output and "MB free under /var/lib/docker" in output


def test_real_measurements_of_disk_and_clock(pf_swarm, tool_env, tmp_path):
    """The module's readings on real hosts: the shared clock lies inside the measured window."""
    path = _growing(pf_swarm, tmp_path)
    result = subprocess.run(
        [
            "ansible",
            "-i",
            str(path),
            "swarm",
            "-m",
            "flotilla.cluster.swarm_preflight",
            "-a",
            json.dumps({"role": "worker"}),
            "--one-line",
        ],
        cwd=ROOT,
        env=dict(tool_env, ANSIBLE_CALLBACK_RESULT_FORMAT="json"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if " | SUCCESS => " in line]
    assert len(lines) == len(NAMES), result.stdout[-4000:]
    for line in lines:
        name, _, payload = line.partition(" | SUCCESS => ")
        measured = json.loads(payload)
        window = measured["controller_time"]
        assert window["before"] <= measured["host_time"] <= window["after"], (
            f"{name}: {window} {measured['host_time']}"
        )
        assert measured["disk"]["free_mb"] > 0
        assert measured["advertise"]["addr"] == pf_swarm[name].address
