"""The opt-in firewall admits cluster members to the cluster ports, and nobody else.

Two members (a manager and a worker) and one non-member host share the test network, all Debian 12
systemd hosts with their own network namespace, so the nftables table each member loads filters
real traffic between real hosts. site.yml runs once with firewall_enabled: true and the machine
(the controller, reaching the hosts from the network's gateway) as the only admin source.

Each probe is a TCP connection with a 3 s timeout, classified as open, refused or timeout, so a
port the firewall drops (timeout) is told apart from a port nothing listens on (refused); the
members' own connections to the same ports are the positive control. UDP has no handshake: the
drop rule's packet counter shows whether a datagram was dropped. The test network has no IPv6:
the IPv6 sets are rendered and checked with nft -c inside a host, not exercised with traffic.

Order matters (one cluster for the module): converge, probe, a published port, Docker's chains,
an idempotent re-run, remove_node.yml closing the worker's access, and site.yml admitting it again.
"""

from __future__ import annotations

import re
import shlex
import socket
import time

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.firewall_rules import plan, render, stack_ports
from hostsnap import inventory, recap, run_playbook, ssh

from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts.aptcache import ensure_apt_cache

OWNER = "h4-fw"
MANAGER, WORKER, OUTSIDER = "h4-fw-m1", "h4-fw-w1", "h4-fw-x1"
EXTRA_PORT = 9100  # a port of firewall_extra_ports, with a listener the test starts
PUBLISHED = 8080  # a host-mode published port of a service
SERVICE = "h4-fw-web"

PROBE = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("open")
except ConnectionRefusedError:
    print("refused")
except OSError as error:
    print("timeout" if "timed out" in str(error) else "error " + str(error))
"""

UDP_SEND = """
import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", (sys.argv[1], int(sys.argv[2])))
"""

HTTP_GET = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
print(s.recv(64).decode(errors="replace").splitlines()[0])
"""


def _output(result) -> str:
    return (result.stdout + "\n" + result.stderr)[-8000:]


def probe_from(host: testhosts.Host, address: str, port: int) -> str:
    return ssh(host, f"python3 -c {shlex.quote(PROBE)} {address} {port}", timeout=30)


def probe_here(address: str, port: int) -> str:
    """The same probe from the machine itself (the controller, an admin source here)."""
    try:
        with socket.create_connection((address, port), timeout=3):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"


def members_v4(host: testhosts.Host) -> set[str]:
    """The IPv4 member set as the kernel holds it."""
    listed = ssh(host, "nft list set inet flotilla members_v4")
    match = re.search(r"elements = \{([^}]*)\}", listed)
    return {item.strip() for item in match.group(1).split(",")} if match else set()


def udp_drops(host: testhosts.Host) -> int:
    chain = ssh(host, "nft list chain inet flotilla input")
    match = re.search(r"udp dport .* counter packets (\d+)", chain)
    assert match, chain
    return int(match.group(1))


@pytest.fixture(scope="module")
def fw_hosts(engine, built_images):
    testhosts.down(engine, OWNER, log=lambda _line: None)
    specs = [{"name": name, "os": "debian12"} for name in (MANAGER, WORKER, OUTSIDER)]
    try:
        yield {host.name: host for host in testhosts.up(engine, OWNER, specs, apt_port=ensure_apt_cache())}
    finally:
        testhosts.down(engine, OWNER, log=lambda _line: None)


@pytest.fixture(scope="module")
def gateway(engine, fw_hosts) -> str:
    network = engine.networks.get(testhosts.network_name(OWNER))
    return network.attrs["IPAM"]["Config"][0]["Gateway"]


@pytest.fixture(scope="module")
def fw_inventory(fw_hosts, gateway, tmp_path_factory):
    settings = {
        "firewall_enabled": True,
        "firewall_admin_sources": [gateway],
        "firewall_extra_ports": [{"port": EXTRA_PORT, "proto": "tcp", "name": "test exporter"}],
    }
    return inventory(tmp_path_factory.mktemp("fw") / "hosts.yml", fw_hosts, [MANAGER], [WORKER], settings)


@pytest.fixture(scope="module")
def converged(fw_hosts, fw_inventory, tool_env):
    result = run_playbook("site.yml", fw_inventory, tool_env, label="firewall")
    assert result.returncode == 0, _output(result)
    return fw_hosts


def test_first_run_forms_the_cluster_behind_the_table(converged):
    manager, worker = converged[MANAGER], converged[WORKER]
    nodes = ssh(manager, "docker node ls --format '{{.Hostname}} {{.Status}}'").splitlines()
    assert sorted(nodes) == [f"{MANAGER} Ready", f"{WORKER} Ready"], nodes
    for host in (manager, worker):
        assert members_v4(host) == {manager.address, worker.address}
        assert ssh(host, "systemctl is-enabled flotilla-firewall.service") == "enabled"
        assert ssh(host, "stat -c %a /etc/flotilla/firewall.nft") == "644"
    assert OUTSIDER not in ssh(manager, "cat /etc/flotilla/firewall.nft")


def test_members_reach_the_cluster_ports_and_the_outsider_does_not(converged, gateway):
    manager, worker, outsider = converged[MANAGER], converged[WORKER], converged[OUTSIDER]
    # listeners where no engine listens: the extra port on the manager, 2377 on the worker
    for host, port in ((manager, EXTRA_PORT), (worker, 2377)):
        ssh(host, f"setsid -f python3 -m http.server {port} >/dev/null 2>&1 </dev/null")
    time.sleep(1)
    # positive control: every port listens and members get through
    assert probe_from(worker, manager.address, 2377) == "open"
    assert probe_from(worker, manager.address, 7946) == "open"
    assert probe_from(worker, manager.address, EXTRA_PORT) == "open"
    assert probe_from(manager, worker.address, 7946) == "open"
    assert probe_from(manager, worker.address, 2377) == "open"
    # the outsider's packets are dropped (a timeout, not a refusal: the ports do listen)
    assert probe_from(outsider, manager.address, 2377) == "timeout"
    assert probe_from(outsider, manager.address, 7946) == "timeout"
    assert probe_from(outsider, manager.address, EXTRA_PORT) == "timeout"
    assert probe_from(outsider, worker.address, 2377) == "timeout"
    # SSH stays open to everyone, and other ports are left to the host (nothing listens: refused)
    assert probe_from(outsider, manager.address, 22) == "open"
    assert probe_from(outsider, manager.address, 2376) == "refused"
    # the machine is an admin source: the API port only, not gossip
    assert probe_here(manager.address, 2377) == "open", gateway
    assert probe_here(manager.address, 7946) == "timeout"


def test_udp_from_the_outsider_is_dropped_and_from_members_is_not(converged):
    manager, worker, outsider = converged[MANAGER], converged[WORKER], converged[OUTSIDER]
    send = f"python3 -c {shlex.quote(UDP_SEND)} {{addr}} {{port}}"
    before = udp_drops(manager)
    for port in (7946, 4789):
        ssh(worker, send.format(port=port, addr=manager.address))
    assert udp_drops(manager) == before, "a member's datagram hit the drop rule"
    for port in (7946, 4789):
        ssh(outsider, send.format(port=port, addr=manager.address))
    assert udp_drops(manager) == before + 2


def test_a_host_mode_published_port_answers_the_outsider(converged, built_images):
    manager, outsider = converged[MANAGER], converged[OUTSIDER]
    with open(built_images["busybox"], "rb") as image:
        ssh(manager, "docker load >/dev/null", stdin=image, timeout=180)
    ssh(
        manager,
        f"docker service create --detach --name {SERVICE} --endpoint-mode dnsrr"
        f" --publish mode=host,target=8000,published={PUBLISHED} --constraint node.role==manager"
        " flotilla/busybox:latest busybox httpd -f -p 8000 >/dev/null",
    )
    deadline = time.monotonic() + 90
    tasks = ""
    while not tasks.startswith("Running") and time.monotonic() < deadline:
        time.sleep(2)
        tasks = ssh(manager, f"docker service ps {SERVICE} --format '{{{{.CurrentState}}}} {{{{.Error}}}}'")
    assert tasks.startswith("Running"), tasks
    answer = ssh(outsider, f"python3 -c {shlex.quote(HTTP_GET)} {manager.address} {PUBLISHED}", timeout=30)
    assert answer.startswith("HTTP/1."), answer


def test_reloading_the_table_leaves_dockers_chains_alone(converged):
    manager = converged[MANAGER]
    # Docker's rules without the comment lines and packet counters
    docker_rules = (
        "for t in filter nat; do iptables-save -t $t | grep -v '^#' | sed 's/\\[[0-9:]*\\]//'; done"
    )
    before = ssh(manager, docker_rules)
    assert "DOCKER" in before and f"--dport {PUBLISHED}" in ssh(manager, "iptables-save -t nat")
    ssh(manager, "systemctl restart flotilla-firewall.service")
    assert ssh(manager, docker_rules) == before
    assert "table inet flotilla" in ssh(manager, "nft list tables")


def test_rendered_variants_pass_nft_check(converged):
    """IPv6 members, IPv4 and IPv6 admin ranges and the k3s ports: syntax checked by the kernel's nft."""
    ports = stack_ports(["swarm", "k3s"], {"swarm_listen_port": 2377, "swarm_data_path_port": 4789})
    members = {
        "m1": {"advertise": "10.0.0.1", "ansible_host": "2001:db8::1", "extra": ["fd00:1::/64"]},
        "w1": {"advertise": "10.0.0.2", "ansible_host": "10.0.0.2", "extra": []},
    }
    variants = {
        "dual": plan(members, ports, ["192.0.2.0/24", "198.51.100.7", "2001:db8:ff::/48"]),
        "no-admins": plan(members, ports, []),
    }
    manager = converged[MANAGER]
    for name, variant in variants.items():
        assert variant["errors"] == []
        text = render(variant)
        ssh(manager, f"printf %s {shlex.quote(text)} > /root/{name}.nft && nft -c -f /root/{name}.nft")


def test_a_rerun_changes_nothing(converged, fw_inventory, tool_env):
    result = run_playbook("site.yml", fw_inventory, tool_env, label="firewall")
    assert result.returncode == 0, _output(result)
    counts = recap(result.stdout)
    assert {host: c["changed"] for host, c in counts.items()} == {MANAGER: 0, WORKER: 0}, counts


def test_remove_node_closes_the_ports_to_the_removed_worker(converged, fw_inventory, tool_env):
    manager, worker = converged[MANAGER], converged[WORKER]
    assert probe_from(worker, manager.address, 2377) == "open"
    result = run_playbook(
        "remove_node.yml", fw_inventory, tool_env, "-e", f"swarm_remove_node={WORKER}", label="firewall"
    )
    assert result.returncode == 0, _output(result)
    assert members_v4(manager) == {manager.address}
    assert probe_from(worker, manager.address, 2377) == "timeout"


def test_site_admits_the_worker_again_when_the_inventory_still_lists_it(converged, fw_inventory, tool_env):
    """Adding a member: its probes time out at the members' tables, and the run opens them before the join."""
    manager, worker = converged[MANAGER], converged[WORKER]
    result = run_playbook("site.yml", fw_inventory, tool_env, label="firewall")
    assert result.returncode == 0, _output(result)
    assert members_v4(manager) == {manager.address, worker.address}
    assert probe_from(worker, manager.address, 2377) == "open"
    assert ssh(worker, "docker info --format '{{.Swarm.LocalNodeState}}'") == "active"
