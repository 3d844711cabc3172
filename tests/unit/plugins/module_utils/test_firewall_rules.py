# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import ipaddress

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.firewall_rules import (
    PortError,
    collapse,
    extra_port_entries,
    host_errors,
    kernel_nf_tables,
    merge_ranges,
    parse_port_range,
    parse_sources,
    plan,
    port_errors,
    ports_by_proto,
    render,
    stack_ports,
    ufw_enabled,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.preflight_checks import (
    input_verdicts,
    nft_base_chains,
    parse_nft_ruleset,
)

SWARM = {"swarm_listen_port": 2377, "swarm_data_path_port": 4789}

# (value, (low, high) or None for refused)
PORT_RANGES = [
    (2377, (2377, 2377)),
    ("2377", (2377, 2377)),
    ("2379-2380", (2379, 2380)),
    (" 10250 ", (10250, 10250)),
    ("2380-2379", None),
    (0, None),
    (65536, None),
    ("ssh", None),
    (True, None),
    (None, None),
    ("1-2-3", None),
]


@pytest.mark.parametrize(("value", "expected"), PORT_RANGES)
def test_parse_port_range(value, expected):
    if expected is None:
        with pytest.raises(PortError):
            parse_port_range(value)
    else:
        assert parse_port_range(value) == expected


def test_swarm_ports_follow_the_swarm_settings():
    ports = stack_ports(["swarm"], {"swarm_listen_port": 2400, "swarm_data_path_port": 4800})
    assert [(p["low"], p["proto"], p["admin"]) for p in ports] == [
        (2400, "tcp", True),
        (7946, "tcp", False),
        (7946, "udp", False),
        (4800, "udp", False),
    ]


def test_k3s_ports_come_from_the_table():
    ports = ports_by_proto(stack_ports(["k3s"], {}))
    assert ports == {"tcp": [(2379, 2380), (6443, 6443), (10250, 10250)], "udp": [(8472, 8472)]}
    assert ports_by_proto(stack_ports(["k3s"], {}), admin_only=True) == {"tcp": [(6443, 6443)]}


# (ranges, merged)
MERGES = [
    ([], []),
    ([(7946, 7946), (7946, 7946)], [(7946, 7946)]),
    ([(2380, 2380), (2379, 2379)], [(2379, 2380)]),
    ([(2377, 2377), (2000, 3000)], [(2000, 3000)]),
    ([(10, 20), (30, 40)], [(10, 20), (30, 40)]),
]


@pytest.mark.parametrize(("ranges", "merged"), MERGES)
def test_merge_ranges(ranges, merged):
    assert merge_ranges(ranges) == merged


# (entries, number accepted, error fragment or "")
EXTRA_PORTS = [
    ([{"port": 9100, "proto": "tcp"}], 1, ""),
    ([{"port": "8000-8010", "proto": "udp", "admin": True, "name": "app"}], 1, ""),
    ([{"port": 9100}], 0, "firewall_extra_ports[0]: proto must be tcp or udp"),
    ([{"port": 9100, "proto": "sctp"}], 0, "proto must be tcp or udp"),
    ([{"port": "x", "proto": "tcp"}], 0, "firewall_extra_ports[0]: a port must be a number"),
    ([{"port": 1, "proto": "tcp", "source": "x"}], 0, "unknown keys source"),
    (["9100/tcp"], 0, "must be a mapping"),
]


@pytest.mark.parametrize(("entries", "accepted", "error"), EXTRA_PORTS)
def test_extra_port_entries(entries, accepted, error):
    ports, errors = extra_port_entries(entries)
    assert len(ports) == accepted
    assert (error in errors[0]) if error else errors == []


# (entries, v4, v6, error fragment or "")
SOURCES = [
    (["192.0.2.10"], ["192.0.2.10/32"], [], ""),
    (["192.0.2.0/24", "2001:db8::/32"], ["192.0.2.0/24"], ["2001:db8::/32"], ""),
    (
        ["192.0.2.5/24"],
        [],
        [],
        "has host bits set: write the range as 192.0.2.0/24, or the single address as 192.0.2.5",
    ),
    (["0.0.0.0/0"], [], [], "admits every address"),
    (["::/0"], [], [], "admits every address"),
    (["bastion.example"], [], [], "firewall_admin_sources[0] must be an IP address or a CIDR range"),
    ([""], [], [], "must be an IP address"),
    ([10], [], [], "must be an IP address"),
]


@pytest.mark.parametrize(("entries", "v4", "v6", "error"), SOURCES)
def test_parse_sources(entries, v4, v6, error):
    got_v4, got_v6, errors = parse_sources(entries, "firewall_admin_sources")
    assert [n.with_prefixlen for n in got_v4] == v4
    assert [n.with_prefixlen for n in got_v6] == v6
    assert (error in errors[0]) if error else errors == []


def test_port_errors_protect_ssh_and_the_ansible_port():
    ports, _ = extra_port_entries([{"port": "20-30", "proto": "tcp"}, {"port": 2222, "proto": "tcp"}])
    ports += extra_port_entries([{"port": 22, "proto": "udp"}])[0]
    errors = port_errors(ports, {22: "the SSH port", 2222: "ansible_port"})
    assert len(errors) == 2
    assert "22/tcp" in errors[0] and "the SSH port" in errors[0] and "firewall_extra_ports" in errors[0]
    assert "2222/tcp" in errors[1]
    assert port_errors(stack_ports(["swarm", "k3s"], SWARM), {22: "the SSH port"}) == []


MEMBERS = {
    "m1": {"advertise": "10.0.0.1", "ansible_host": "10.0.0.1", "extra": ["fd00::1"]},
    "m2": {"advertise": "10.0.0.2", "ansible_host": "m2.example", "extra": []},
    "w1": {"advertise": "10.0.0.3", "ansible_host": "192.0.2.3", "extra": ["10.0.0.0/30"]},
}


def test_plan_splits_dedups_and_merges_the_member_addresses():
    result = plan(
        MEMBERS, stack_ports(["swarm"], SWARM), ["198.51.100.0/24", "198.51.100.7", "2001:db8::/32"]
    )
    assert result["errors"] == []
    # 10.0.0.1-3 fall inside w1's 10.0.0.0/30, so the range stands for them
    assert result["members"] == {"v4": ["10.0.0.0/30", "192.0.2.3"], "v6": ["fd00::1"]}
    assert result["by_host"]["m2"] == ["10.0.0.2"]  # a name as ansible_host is not resolved
    assert result["admins"] == {"v4": ["198.51.100.0/24"], "v6": ["2001:db8::/32"]}
    assert result["ports"] == {"tcp": [(2377, 2377), (7946, 7946)], "udp": [(4789, 4789), (7946, 7946)]}
    assert result["admin_ports"] == {"tcp": [(2377, 2377)]}


# (addresses, elements)
COLLAPSES = [
    (["10.0.0.2", "10.0.0.3", "10.0.0.2"], ["10.0.0.2", "10.0.0.3"]),  # neighbours stay single
    (["10.0.0.5", "10.0.0.0/24", "10.0.1.1"], ["10.0.0.0/24", "10.0.1.1"]),
    (["10.0.0.0/8", "10.1.0.0/16"], ["10.0.0.0/8"]),
    (["2001:db8::1", "10.0.0.1", "2001:db8::/64"], ["10.0.0.1", "2001:db8::/64"]),
    ([], []),
]


@pytest.mark.parametrize(("addresses", "elements"), COLLAPSES)
def test_collapse(addresses, elements):
    assert collapse([ipaddress.ip_network(a) for a in addresses]) == elements


def test_plan_refuses_a_member_without_an_address_and_bad_sources():
    members = {"m1": {"advertise": "", "ansible_host": "m1.example"}, "w1": {"advertise": "10.0.0.3"}}
    result = plan(members, [], ["10.1.1.1/8"])
    assert len(result["errors"]) == 2
    assert "firewall_admin_sources[0]" in result["errors"][0]
    assert (
        "cannot tell the address of m1:" in result["errors"][1]
        and "swarm_advertise_addr" in result["errors"][1]
    )


def test_rendered_ruleset_replaces_only_its_table_and_filters_only_the_cluster_ports():
    text = render(plan(MEMBERS, stack_ports(["swarm"], SWARM), ["198.51.100.0/24"]))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[:3] == ["table inet flotilla", "delete table inet flotilla", "table inet flotilla {"]
    assert "flush" not in text
    assert "elements = { 10.0.0.0/30, 192.0.2.3 }" in lines
    assert "elements = { fd00::1 }" in lines
    assert "type filter hook input priority filter; policy accept;" in lines
    assert 'tcp dport { 2377 } ip saddr @admins_v4 accept comment "admin sources"' in lines
    assert not any("@admins_v6 accept" in line for line in lines), "no IPv6 admins: no rule"
    drops = [line for line in lines if " drop " in line]
    assert drops == [
        'tcp dport { 2377, 7946 } counter drop comment "cluster ports: members only"',
        'udp dport { 4789, 7946 } counter drop comment "cluster ports: members only"',
    ]
    assert " 22" not in " ".join(drops)


def test_empty_sets_have_no_elements_line():
    text = render(plan({"m1": {"advertise": "10.0.0.1"}}, stack_ports(["swarm"], SWARM), []))
    sets = text.split("set ")[1:]
    assert [s.split(" ")[0] for s in sets if "elements" not in s.split("}")[0]] == [
        "members_v6",
        "admins_v4",
        "admins_v6",
    ]


def test_the_swarm_preflight_reads_the_table_as_uncertain_not_as_blocking():
    """Our drop depends on the source: the swarm preflight must not refuse the ports it filters."""
    text = render(plan(MEMBERS, stack_ports(["swarm"], SWARM), ["198.51.100.0/24"]))
    # as `nft list ruleset` shows it (no shebang, no comment lines, no create/delete lines)
    listed = text[text.index("table inet flotilla {") :]
    chains = parse_nft_ruleset(listed)
    assert list(nft_base_chains(chains)) == ["inet flotilla/input"]
    ports = [(2377, "tcp"), (7946, "tcp"), (7946, "udp"), (4789, "udp")]
    verdicts = input_verdicts(chains, nft_base_chains(chains), ports, "eth0")
    assert {v["verdict"] for v in verdicts} == {"unknown"}


# (ufw.conf text, enabled)
UFW = [
    ("ENABLED=yes\n", True),
    ("# comment\nENABLED=no\nLOGLEVEL=low\n", False),
    ('ENABLED="yes"\n', True),
    ("", False),
]


@pytest.mark.parametrize(("text", "enabled"), UFW)
def test_ufw_enabled(text, enabled):
    assert ufw_enabled(text) is enabled


# (loaded, modules.dep, modules.builtin, expected)
KERNEL = [
    (True, None, None, True),
    (False, None, None, None),
    (False, "kernel/net/netfilter/nf_tables.ko.xz: kernel/net/netfilter/nfnetlink.ko.xz\n", "", True),
    (False, "", "kernel/net/netfilter/nf_tables.ko\n", True),
    (False, "kernel/net/netfilter/nf_tables_set.ko:\n", "", False),
    (False, "kernel/fs/ext4/ext4.ko:\n", None, False),
]


@pytest.mark.parametrize(("loaded", "dep", "builtin", "expected"), KERNEL)
def test_kernel_nf_tables(loaded, dep, builtin, expected):
    assert kernel_nf_tables(loaded, dep, builtin) is expected


# (probe, error fragments)
HOSTS = [
    ({"nft": {"present": True, "usable": True}, "other_firewalls": []}, []),
    ({"nft": {"present": False}, "kernel_nf_tables": None, "other_firewalls": []}, []),
    ({"nft": {"present": False}, "kernel_nf_tables": False}, ["kernel has no nf_tables"]),
    (
        {"nft": {"present": True, "usable": False, "error": "Operation not permitted"}},
        ["cannot run nft (Operation not permitted)"],
    ),
    (
        {"nft": {"present": True, "usable": True}, "other_firewalls": ["ufw"]},
        ["runs ufw", "firewall_enabled: false"],
    ),
    ({"nft": {"present": True, "usable": True}, "other_firewalls": ["firewalld"]}, ["runs firewalld"]),
    ({"skipped": True}, []),
]


@pytest.mark.parametrize(("probe", "fragments"), HOSTS)
def test_host_errors(probe, fragments):
    errors = host_errors("n1", probe)
    assert bool(errors) == bool(fragments)
    for fragment in fragments:
        assert fragment in errors[0]
    assert all(error.startswith("n1") for error in errors)
