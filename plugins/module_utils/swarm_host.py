# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""What one host says about its Swarm membership, and which address it advertises.

Pure functions behind the ``swarm_host_info`` module: they read the text of ``docker info`` and
``/proc/net/route`` that the module collected, so plain pytest can drive every branch.

The advertise address is the one other nodes use to reach this host. It is taken, in order, from
an explicit address, from a named interface, or from the interface that holds the default route
(what Ansible reports as ``ansible_facts['default_ipv4']['address']``). It is never an address of a
Docker bridge: those exist on every engine with the same subnet, so other nodes cannot reach them.
Runs on managed nodes: Python 3.9 syntax.
"""

from __future__ import annotations

import ipaddress
import json

# Interfaces the engine creates; their addresses are local to this host.
DOCKER_INTERFACE_PREFIXES = ("docker", "br-", "veth", "vxlan", "ov-")
DOCKER_INTERFACES = ("docker0", "docker_gwbridge")

# LocalNodeState values (GET /info, Swarm.LocalNodeState).
STATE_INACTIVE = "inactive"
STATE_PENDING = "pending"
STATE_ACTIVE = "active"
STATE_ERROR = "error"
STATE_LOCKED = "locked"


class AdvertiseError(ValueError):
    """The advertise address cannot be decided; the message says what to set."""


def is_docker_interface(name: str) -> bool:
    return name in DOCKER_INTERFACES or name.startswith(DOCKER_INTERFACE_PREFIXES)


def default_route_interface(route_table: str) -> str | None:
    """The interface of the IPv4 default route with the lowest metric, from ``/proc/net/route``."""
    best = None
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        iface, destination, flags, metric, mask = fields[0], fields[1], fields[3], fields[6], fields[7]
        # RTF_UP (0x1) must be set; destination and mask 0 make it a default route.
        try:
            up = int(flags, 16) & 0x1
            is_default = int(destination, 16) == 0 and int(mask, 16) == 0
            metric_value = int(metric)
        except ValueError:
            continue
        if up and is_default and (best is None or metric_value < best[0]):
            best = (metric_value, iface)
    return best[1] if best else None


def resolve_advertise_addr(explicit: str, interface: str, route_table: str, address_of) -> tuple[str, str]:
    """Return ``(address, source)``; ``address_of(iface)`` gives an interface's IPv4 address or None.

    ``source`` is ``explicit``, ``interface`` or ``default_route``. Raises :class:`AdvertiseError`
    with what to set when no usable address is found.
    """
    docker_addresses = {address_of(name) for name in DOCKER_INTERFACES} - {None}
    if explicit:
        try:
            ipaddress.ip_address(explicit)
        except ValueError:
            raise AdvertiseError(
                f"swarm_advertise_addr must be an IP address, got {explicit!r}; "
                "use swarm_advertise_interface to name an interface"
            ) from None
        if explicit in docker_addresses:
            raise AdvertiseError(
                f"swarm_advertise_addr {explicit} belongs to a Docker bridge, which other nodes cannot "
                "reach; set the address of the host's network interface"
            )
        return explicit, "explicit"
    if interface:
        if is_docker_interface(interface):
            raise AdvertiseError(
                f"swarm_advertise_interface {interface} is a Docker bridge, which other nodes cannot "
                "reach; name the host's network interface"
            )
        address = address_of(interface)
        if not address:
            raise AdvertiseError(
                f"swarm_advertise_interface {interface} has no IPv4 address on this host; "
                "name another interface or set swarm_advertise_addr"
            )
        return address, "interface"
    iface = default_route_interface(route_table)
    if not iface:
        raise AdvertiseError(
            "this host has no IPv4 default route to take the advertise address from; "
            "set swarm_advertise_addr or swarm_advertise_interface"
        )
    if is_docker_interface(iface):
        raise AdvertiseError(
            f"the default route goes through the Docker bridge {iface}; "
            "set swarm_advertise_addr or swarm_advertise_interface"
        )
    address = address_of(iface)
    if not address:
        raise AdvertiseError(
            f"the default route's interface {iface} has no IPv4 address; "
            "set swarm_advertise_addr or swarm_advertise_interface"
        )
    return address, "default_route"


def parse_swarm_info(docker_info_json: str) -> dict:
    """The Swarm part of ``docker info --format '{{json .}}'`` as the role uses it.

    Workers do not know their cluster ID (``Swarm.Cluster`` is only filled on managers); they do
    know the node IDs of the managers they talk to, which is how the role tells which swarm a
    worker belongs to.
    """
    info = json.loads(docker_info_json)
    swarm = info.get("Swarm") or {}
    cluster = swarm.get("Cluster") or {}
    remote = swarm.get("RemoteManagers") or []
    return {
        "hostname": info.get("Name", ""),
        "server_version": info.get("ServerVersion", ""),
        "state": swarm.get("LocalNodeState") or STATE_INACTIVE,
        "node_id": swarm.get("NodeID", ""),
        "node_addr": swarm.get("NodeAddr", ""),
        "is_manager": bool(swarm.get("ControlAvailable", False)),
        "cluster_id": cluster.get("ID", ""),
        "manager_ids": sorted(m.get("NodeID", "") for m in remote if m.get("NodeID")),
        "manager_addrs": sorted(m.get("Addr", "") for m in remote if m.get("Addr")),
        "error": swarm.get("Error", ""),
    }
