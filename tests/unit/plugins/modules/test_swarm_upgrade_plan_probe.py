# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""swarm_upgrade_plan's live probe of the managers' Raft ports, against real local sockets."""

from __future__ import annotations

import socket

from ansible_collections.flotilla.cluster.plugins.modules.swarm_upgrade_plan import probe_managers


def manager(node_id, address):
    return {"ID": node_id, "ManagerStatus": {"Reachability": "reachable", "Addr": address}}


def test_probe_names_only_the_managers_whose_port_refuses():
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        open_port, closed_port = listening.getsockname()[1], closed.getsockname()[1]
        nodes = [
            manager("up", f"127.0.0.1:{open_port}"),
            manager("cut", f"127.0.0.1:{closed_port}"),
            {"ID": "worker"},
        ]
        failures = probe_managers(nodes, timeout=2)
    assert set(failures) == {"cut"}
    assert failures["cut"].startswith(f"no answer on its Raft port: tcp 127.0.0.1:{closed_port}")


def test_no_managers_no_probes():
    assert probe_managers([{"ID": "worker"}], timeout=1) == {}


def test_a_manager_without_a_usable_address_counts_as_unreachable():
    nodes = [
        {"ID": "none", "ManagerStatus": {"Reachability": "reachable"}},
        manager("bad", "10.0.0.1"),
    ]
    failures = probe_managers(nodes, timeout=1)
    assert failures["none"] == "no answer on its Raft port: the swarm lists no Raft address for it"
    assert "not host:port" in failures["bad"]


def test_ipv6_loopback_is_probed_and_named_in_brackets():
    with socket.socket(socket.AF_INET6) as listening, socket.socket(socket.AF_INET6) as closed:
        listening.bind(("::1", 0))
        listening.listen()
        closed.bind(("::1", 0))
        port, closed_port = listening.getsockname()[1], closed.getsockname()[1]
        nodes = [manager("v6", f"[::1]:{port}"), manager("cut", f"[::1]:{closed_port}")]
        failures = probe_managers(nodes, timeout=2)
    assert set(failures) == {"cut"}
    assert failures["cut"].startswith(f"no answer on its Raft port: tcp [::1]:{closed_port}: ")
