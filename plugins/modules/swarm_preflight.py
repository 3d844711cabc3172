#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Measure, read-only, what decides whether a host can be a Swarm node; never changes the host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_preflight
short_description: Measure whether a host can be a Swarm node (addresses, firewall, peers, disk, clock)
version_added: 0.1.0
description:
  - One read-only call per host that measures everything the swarm role's preflight decides on,
    before any host changes. It reports measurements only and does not fail on them; the role
    decides over all hosts at once with the C(flotilla.cluster.swarm_preflight_errors) filter.
  - The host's own addresses (C(/proc/net/fib_trie), C(/proc/net/if_inet6)), and the advertise
    address decided as M(flotilla.cluster.swarm_host_info) decides it.
  - Which Swarm ports the host's own firewall drops or rejects on input, read from
    C(iptables-save), C(ip6tables-save) and C(nft list ruleset) where those tools exist. Rules
    with matchers it does not model (source addresses, marks...) are reported as uncertain,
    not as blocking.
  - TCP connections to every peer's cluster API port (managers) and gossip port, each with a
    short timeout. UDP cannot be probed this way (no handshake), so the gossip and VXLAN UDP
    ports are judged from the firewall rules only.
  - Free space on the file system holding the engine's data root (or its nearest existing
    parent before the engine is installed).
  - The host's clock. The action plugin of the same name brackets the call with the
    controller's clock, so the skew is known to within the round trip.
  - The engine's Swarm state when an engine answers (C(docker info)); none is needed.
author:
  - flotilla developers
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  role:
    description: The role this host has or gets in the swarm; managers also listen on O(listen_port).
    type: str
    choices: [manager, worker]
    required: true
  advertise_addr:
    description: The address set in the inventory (empty when decided from an interface or the default route).
    type: str
    default: ""
  advertise_interface:
    description: Interface whose IPv4 address is advertised when O(advertise_addr) is empty.
    type: str
    default: ""
  listen_port:
    description: TCP port of the managers' cluster API.
    type: int
    default: 2377
  data_path_port:
    description: UDP port of the VXLAN data path.
    type: int
    default: 4789
  peers:
    description: The other swarm hosts to connect to, each with its name, address and whether it is a manager.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Inventory name of the peer.
        type: str
        required: true
      address:
        description: Address to connect to (its swarm_advertise_addr, else how the inventory reaches it).
        type: str
        required: true
      manager:
        description: Whether the peer is (or becomes) a manager, so that its cluster API port is probed.
        type: bool
        default: false
  connect_timeout:
    description: Seconds each TCP connection attempt may take.
    type: float
    default: 2.0
  data_root:
    description: The engine's data root, whose file system must have room.
    type: path
    default: /var/lib/docker
  min_free_disk_mb:
    description: Echoed in RV(limits) for the decision on the controller.
    type: int
    default: 0
  max_clock_skew_seconds:
    description: Echoed in RV(limits) for the decision on the controller.
    type: float
    default: 0
  docker_cli:
    description: The docker command line client; its absence is not an error.
    type: str
    default: docker
seealso:
  - module: flotilla.cluster.swarm_host_info
"""

EXAMPLES = r"""
- name: Measure every host, then decide over all of them
  flotilla.cluster.swarm_preflight:
    role: manager
    peers:
      - {name: node2, address: 10.0.0.12, manager: true}
      - {name: node4, address: 10.0.0.14, manager: false}
    min_free_disk_mb: 2048
    max_clock_skew_seconds: 5
  register: __swarm_preflight
"""

RETURN = r"""
host_time:
  description: The host's clock (seconds since the epoch) when it was read.
  returned: always
  type: float
controller_time:
  description: The controller's clock just before and just after the call (added by the action plugin).
  returned: always
  type: dict
  sample: {before: 1760000000.1, after: 1760000000.9}
hostname:
  description: The system host name, which becomes the Swarm node name.
  returned: always
  type: str
addresses:
  description: Every address configured on the host.
  returned: always
  type: list
  elements: str
advertise:
  description: The advertise address as the swarm role decides it, its interface, or why it cannot.
  returned: always
  type: dict
  sample: {addr: 10.0.0.11, source: default_route, interface: eth0, error: ""}
firewall:
  description:
    - The tools read and, per Swarm port and tool, what the input path does to it.
    - C(flotilla_table) is true when the table of flotilla's firewall role is loaded; a timeout
      towards this host is then not refused (the same run rewrites its member set first).
  returned: always
  type: dict
  sample:
    tools: [iptables-save]
    flotilla_table: false
    verdicts:
      - {port: 2377, proto: tcp, tool: iptables-save, verdict: drop, maybe: "",
         rule: "-A INPUT -p tcp --dport 2377 -j DROP"}
reachability:
  description:
    - One TCP connection attempt per peer and port, with its outcome
      (open, refused, timeout, unreachable, error).
  returned: always
  type: list
  elements: dict
disk:
  description: Free space on the file system of the data root.
  returned: always
  type: dict
  sample: {path: /var/lib/docker, measured_path: /var/lib/docker, free_mb: 70000}
swarm:
  description: The engine's Swarm state (empty when no engine answers).
  returned: always
  type: dict
limits:
  description: The thresholds and settings the decision uses, as given.
  returned: always
  type: dict
"""

import os
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils.host_interfaces import interface_ipv4
from ansible_collections.flotilla.cluster.plugins.module_utils.preflight_checks import (
    GOSSIP_PORT,
    TCP_ERROR,
    TCP_OPEN,
    TCP_REFUSED,
    TCP_TIMEOUT,
    TCP_UNREACHABLE,
    has_flotilla_table,
    input_verdicts,
    iptables_base_chains,
    local_addresses,
    nft_base_chains,
    parse_iptables_save,
    parse_nft_ruleset,
    same_address,
    swarm_ports,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_host import (
    AdvertiseError,
    default_route_interface,
    parse_swarm_info,
    resolve_advertise_addr,
)

C_LOCALE = {"LANG": "C", "LC_ALL": "C"}

ARGUMENT_SPEC = {
    "role": {"type": "str", "choices": ["manager", "worker"], "required": True},
    "advertise_addr": {"type": "str", "default": ""},
    "advertise_interface": {"type": "str", "default": ""},
    "listen_port": {"type": "int", "default": 2377},
    "data_path_port": {"type": "int", "default": 4789},
    "peers": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "name": {"type": "str", "required": True},
            "address": {"type": "str", "required": True},
            "manager": {"type": "bool", "default": False},
        },
    },
    "connect_timeout": {"type": "float", "default": 2.0},
    "data_root": {"type": "path", "default": "/var/lib/docker"},
    "min_free_disk_mb": {"type": "int", "default": 0},
    "max_clock_skew_seconds": {"type": "float", "default": 0},
    "docker_cli": {"type": "str", "default": "docker"},
}


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def advertise(params: dict, routes: str) -> dict:
    try:
        address, source = resolve_advertise_addr(
            params["advertise_addr"], params["advertise_interface"], routes, interface_ipv4
        )
    except AdvertiseError as error:
        return {"addr": "", "source": "", "interface": None, "error": str(error)}
    if source == "interface":
        interface = params["advertise_interface"]
    elif source == "default_route":
        interface = default_route_interface(routes)
    else:
        interface = next(
            (name for _, name in socket.if_nameindex() if same_address(interface_ipv4(name) or "", address)),
            None,
        )
    return {"addr": address, "source": source, "interface": interface, "error": ""}


def firewall(module: AnsibleModule, ports: list, interface) -> dict:
    tools, verdicts, flotilla_table = [], [], False
    readers = [
        ("iptables-save", ["iptables-save", "-t", "filter"], parse_iptables_save, iptables_base_chains),
        ("ip6tables-save", ["ip6tables-save", "-t", "filter"], parse_iptables_save, iptables_base_chains),
        ("nft", ["nft", "list", "ruleset"], parse_nft_ruleset, nft_base_chains),
    ]
    for tool, argv, parse, bases in readers:
        binary = module.get_bin_path(argv[0])
        if not binary:
            continue
        rc, out, _err = module.run_command([binary] + argv[1:], environ_update=C_LOCALE)
        if rc != 0:
            continue
        tools.append(tool)
        chains = parse(out)
        if tool == "nft":
            flotilla_table = has_flotilla_table(chains)
        for item in input_verdicts(chains, bases(chains), ports, interface):
            verdicts.append(dict(item, tool=tool))
    return {"tools": tools, "verdicts": verdicts, "flotilla_table": flotilla_table}


def connect(address: str, port: int, timeout: float) -> tuple[str, str]:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return TCP_OPEN, ""
    except ConnectionRefusedError:
        return TCP_REFUSED, ""
    except TimeoutError:
        return TCP_TIMEOUT, ""
    except OSError as error:
        if error.errno in (101, 113):  # ENETUNREACH, EHOSTUNREACH
            return TCP_UNREACHABLE, error.strerror or ""
        return TCP_ERROR, str(error)


def reachability(peers: list, listen_port: int, timeout: float) -> list[dict]:
    probes = []
    for peer in peers:
        if peer["manager"]:
            probes.append({"peer": peer["name"], "address": peer["address"], "port": listen_port})
        probes.append({"peer": peer["name"], "address": peer["address"], "port": GOSSIP_PORT})
    if not probes:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(probes))) as pool:
        outcomes = list(pool.map(lambda p: connect(p["address"], p["port"], timeout), probes))
    for probe, (result, detail) in zip(probes, outcomes):  # noqa: B905  Python 3.9 on managed nodes
        probe.update(result=result, detail=detail)
    return probes


def disk(data_root: str) -> dict:
    measured = data_root
    while not os.path.exists(measured) and measured not in ("/", ""):
        measured = os.path.dirname(measured)
    try:
        free = shutil.disk_usage(measured or "/").free // (1024 * 1024)
    except OSError:
        free = None
    return {"path": data_root, "measured_path": measured or "/", "free_mb": free}


def swarm_state(module: AnsibleModule) -> dict:
    cli = module.get_bin_path(module.params["docker_cli"])
    if not cli:
        return {}
    rc, out, _err = module.run_command([cli, "info", "--format", "{{json .}}"], environ_update=C_LOCALE)
    if rc != 0:
        return {}
    try:
        return parse_swarm_info(out)
    except ValueError:
        return {}


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    params = module.params
    host_time = time.time()
    routes = _read("/proc/net/route")
    chosen = advertise(params, routes)
    ports = swarm_ports(params["role"], params["listen_port"], params["data_path_port"])
    module.exit_json(
        changed=False,
        host_time=host_time,
        hostname=socket.gethostname(),
        addresses=local_addresses(_read("/proc/net/fib_trie"), _read("/proc/net/if_inet6")),
        advertise=chosen,
        firewall=firewall(module, ports, chosen["interface"]),
        reachability=reachability(params["peers"], params["listen_port"], params["connect_timeout"]),
        disk=disk(params["data_root"]),
        swarm=swarm_state(module),
        limits={
            "role": params["role"],
            "advertise_addr": params["advertise_addr"],
            "min_free_disk_mb": params["min_free_disk_mb"],
            "max_clock_skew_seconds": params["max_clock_skew_seconds"],
        },
    )


if __name__ == "__main__":
    main()
