from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.k3s_preflight import (
    cgroup_controllers,
    cluster_host_errors,
    host_errors,
    layout_errors,
    listening_tcp_ports,
)

# measured on a Debian 12 test host of this project (cgroup v1 machine) and a cgroup v2 host
V1_HOST = {
    "cgroup_version": "v1",
    "cgroup_controllers": ["blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"],
    "kernel": "6.1.0-21-amd64",
    "overlay": True,
    "listening_tcp": [22],
    "k3s_running": False,
    "hostname": "h1",
}
V2_HOST = dict(
    V1_HOST, cgroup_version="v2", cgroup_controllers=["cpuset", "cpu", "io", "memory", "hugetlb", "pids"]
)


@pytest.mark.parametrize(
    ("servers", "agents", "swarm", "endpoints", "kwargs", "message"),
    [
        (["s1", "s2"], [], [], {}, {}, "2 servers with embedded etcd tolerate no more failures than 1"),
        ([], ["a1"], [], {}, {}, "no servers"),
        (["s1"], ["s1"], [], {}, {}, "s1 is in both k3s_servers and k3s_agents"),
        (["s1"], ["a1"], ["a1"], {}, {}, "a1 is in a Swarm group and a k3s group"),
        (
            ["s1"],
            ["a1"],
            [],
            {"s1": "10.0.0.1:22", "a1": "10.0.0.1:22"},
            {},
            "hosts s1, a1 all reach 10.0.0.1:22",
        ),
    ],
)
def test_layout_refusals(servers, agents, swarm, endpoints, kwargs, message):
    errors = layout_errors(servers, agents, swarm, endpoints, **kwargs)
    assert any(message in e for e in errors), errors


@pytest.mark.parametrize(
    ("servers", "swarm", "kwargs"),
    [
        (["s1"], [], {}),
        (["s1", "s2", "s3"], [], {}),
        (["s1", "s2"], [], {"external_datastore": True}),
        (["s1", "s2"], [], {"allow_even_servers": True}),
        (["s1"], ["s1"], {"allow_swarm_overlap": True}),
    ],
)
def test_layouts_accepted(servers, swarm, kwargs):
    assert layout_errors(servers, [], swarm, {}, **kwargs) == []


@pytest.mark.parametrize(
    ("measured", "role", "require_v2", "message"),
    [
        (dict(V1_HOST, cgroup_version=None), "server", False, "no cgroup file system"),
        (V1_HOST, "server", True, "runs cgroup v1 but k3s_require_cgroup_v2 is true"),
        (
            dict(V2_HOST, cgroup_controllers=["cpu", "memory"]),
            "agent",
            False,
            "controller(s) cpuset, pids are not available",
        ),
        (dict(V1_HOST, kernel="4.9.0-8-amd64"), "agent", False, "kernel 4.9.0-8-amd64 is older than 4.15"),
        (dict(V1_HOST, overlay=False), "agent", False, "overlay file system is not available"),
        (
            dict(V1_HOST, listening_tcp=[22, 6443, 2379]),
            "server",
            False,
            "TCP port(s) 2379, 6443 already in use",
        ),
        (dict(V1_HOST, listening_tcp=[10250]), "agent", False, "TCP port(s) 10250 already in use"),
    ],
)
def test_host_refusals(measured, role, require_v2, message):
    errors = host_errors("h1", role, measured, require_v2)
    assert any(message in e for e in errors), errors


@pytest.mark.parametrize(
    ("measured", "role", "require_v2"),
    [
        (V1_HOST, "server", False),
        (V2_HOST, "server", True),
        # an agent does not need the server ports
        (dict(V1_HOST, listening_tcp=[6443]), "agent", False),
        # k3s itself holds its ports on a node that runs it
        (dict(V1_HOST, listening_tcp=[6443, 10250], k3s_running=True), "server", False),
    ],
)
def test_hosts_accepted(measured, role, require_v2):
    assert host_errors("h1", role, measured, require_v2) == []


def test_duplicate_host_names():
    errors = cluster_host_errors({"a": {"hostname": "x"}, "b": {"hostname": "x"}, "c": {"hostname": "c"}})
    assert errors == [
        "hosts a, b share the system host name x: it becomes the node name, "
        "so give each host its own or set k3s_node_name"
    ]


# /proc/net/tcp as Linux prints it (header, then sl local rem st ...); 0A is LISTEN, 01 ESTABLISHED
PROC_NET_TCP = """  sl  local_address rem_address st tx_queue rx_queue tr tm->when retrnsmt uid timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:1942 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0200A8C0:0016 0100A8C0:D431 01 00000000:00000000 02:00000000 00000000     0        0 3 1
"""


def test_listening_tcp_ports():
    assert listening_tcp_ports(PROC_NET_TCP) == [22, 6466]


PROC_CGROUPS = """#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t1\t1
cpu\t1\t1\t1
memory\t4\t1\t1
pids\t8\t1\t1
hugetlb\t9\t1\t0
"""


@pytest.mark.parametrize(
    ("version", "unified", "proc", "expected"),
    [
        ("v2", "cpuset cpu io memory pids\n", "", ["cpu", "cpuset", "io", "memory", "pids"]),
        ("v1", "", PROC_CGROUPS, ["cpu", "cpuset", "memory", "pids"]),
    ],
)
def test_cgroup_controllers(version, unified, proc, expected):
    assert cgroup_controllers(version, unified, proc) == expected
