# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import json

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_host import (
    AdvertiseError,
    default_route_interface,
    is_docker_interface,
    parse_swarm_info,
    resolve_advertise_addr,
)

ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t00000000\t0101A8C0\t0003\t0\t0\t50\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""

ADDRESSES = {
    "eth0": "192.168.0.10",
    "eth1": "192.168.1.10",
    "docker0": "172.17.0.1",
    "docker_gwbridge": "172.18.0.1",
}


def address_of(name):
    return ADDRESSES.get(name)


def test_default_route_lowest_metric_wins():
    assert default_route_interface(ROUTES) == "eth1"


@pytest.mark.parametrize(
    "table",
    [
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n",
        "",
        # a default route that is down (flags without RTF_UP) does not count
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\neth0\t00000000\t0100A8C0\t0002\t0\t0\t0\t00000000\n",
        "Iface\tDestination\nbroken line\n",
    ],
)
def test_no_default_route(table):
    assert default_route_interface(table) is None


@pytest.mark.parametrize(
    ("name", "docker"),
    [
        ("docker0", True),
        ("docker_gwbridge", True),
        ("br-1a2b3c", True),
        ("veth12ab", True),
        ("eth0", False),
        ("ens3", False),
        ("bond0", False),
    ],
)
def test_is_docker_interface(name, docker):
    assert is_docker_interface(name) is docker


@pytest.mark.parametrize(
    ("explicit", "interface", "expected"),
    [
        ("10.0.0.5", "", ("10.0.0.5", "explicit")),
        ("fd00::5", "", ("fd00::5", "explicit")),
        ("", "eth0", ("192.168.0.10", "interface")),
        ("", "", ("192.168.1.10", "default_route")),
    ],
)
def test_resolve_advertise_addr(explicit, interface, expected):
    assert resolve_advertise_addr(explicit, interface, ROUTES, address_of) == expected


@pytest.mark.parametrize(
    ("explicit", "interface", "routes", "message"),
    [
        ("eth0", "", ROUTES, "must be an IP address"),
        ("172.17.0.1", "", ROUTES, "Docker bridge"),
        ("", "docker0", ROUTES, "Docker bridge"),
        ("", "eth9", ROUTES, "no IPv4 address"),
        ("", "", "", "no IPv4 default route"),
        (
            "",
            "",
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
            "docker0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\n",
            "goes through the Docker bridge docker0",
        ),
        (
            "",
            "",
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
            "wg0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\n",
            "wg0 has no IPv4 address",
        ),
    ],
)
def test_resolve_advertise_addr_refuses(explicit, interface, routes, message):
    with pytest.raises(AdvertiseError, match=message):
        resolve_advertise_addr(explicit, interface, routes, address_of)


def test_parse_swarm_info_manager():
    info = {
        "Name": "node1",
        "ServerVersion": "20.10.24+dfsg1",
        "Swarm": {
            "NodeID": "n1",
            "NodeAddr": "10.0.0.1",
            "LocalNodeState": "active",
            "ControlAvailable": True,
            "Error": "",
            "RemoteManagers": [
                {"NodeID": "n2", "Addr": "10.0.0.2:2377"},
                {"NodeID": "n1", "Addr": "10.0.0.1:2377"},
            ],
            "Cluster": {"ID": "c1"},
        },
    }
    assert parse_swarm_info(json.dumps(info)) == {
        "hostname": "node1",
        "server_version": "20.10.24+dfsg1",
        "state": "active",
        "node_id": "n1",
        "node_addr": "10.0.0.1",
        "is_manager": True,
        "cluster_id": "c1",
        "manager_ids": ["n1", "n2"],
        "manager_addrs": ["10.0.0.1:2377", "10.0.0.2:2377"],
        "error": "",
    }


def test_parse_swarm_info_worker_knows_no_cluster_id():
    info = {
        "Name": "w1",
        "Swarm": {
            "NodeID": "w1id",
            "LocalNodeState": "active",
            "ControlAvailable": False,
            "RemoteManagers": [{"NodeID": "n1", "Addr": "10.0.0.1:2377"}],
            "Cluster": None,
        },
    }
    parsed = parse_swarm_info(json.dumps(info))
    assert parsed["is_manager"] is False
    assert parsed["cluster_id"] == ""
    assert parsed["manager_ids"] == ["n1"]


@pytest.mark.parametrize("swarm", [None, {}, {"LocalNodeState": ""}])
def test_parse_swarm_info_inactive(swarm):
    parsed = parse_swarm_info(json.dumps({"Name": "x", "Swarm": swarm}))
    assert parsed["state"] == "inactive"
    assert parsed["node_id"] == ""
    assert parsed["manager_ids"] == []


def test_parse_swarm_info_rejects_non_json():
    with pytest.raises(ValueError):
        parse_swarm_info("Cannot connect to the Docker daemon")
