# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.flotilla.cluster.plugins.filter.firewall import (
    firewall_host_errors,
    firewall_input_errors,
    firewall_plan,
    firewall_ruleset,
)

SWARM = {"swarm_listen_port": 2377, "swarm_data_path_port": 4789}
GROUPS = {
    "all": ["m1", "w1", "w2", "x1"],
    "swarm_managers": ["m1"],
    "swarm_workers": ["w1", "w2"],
    "other": ["x1"],
}
HOSTVARS = {
    # probed in this run: the probe's address wins over the inventory's
    "m1": {"ansible_host": "192.0.2.1", "__firewall_host": {"advertise": {"addr": "10.0.0.1"}}},
    # not in the play: its swarm_advertise_addr, else its ansible_host
    "w1": {"ansible_host": "192.0.2.11", "swarm_advertise_addr": "10.0.0.11"},
    "w2": {"ansible_host": "192.0.2.12", "firewall_host_addresses": ["2001:db8::12"]},
    "x1": {"ansible_host": "192.0.2.99"},
}


def test_plan_takes_the_members_of_the_groups_only():
    result = firewall_plan(
        HOSTVARS, GROUPS, ["swarm_managers", "swarm_workers", "missing"], stacks=["swarm"], settings=SWARM
    )
    assert result["errors"] == []
    assert result["by_host"] == {
        "m1": ["10.0.0.1", "192.0.2.1"],
        "w1": ["10.0.0.11", "192.0.2.11"],
        "w2": ["192.0.2.12", "2001:db8::12"],
    }
    assert "192.0.2.99" not in result["members"]["v4"]
    assert result["members"]["v6"] == ["2001:db8::12"]


def test_plan_leaves_out_the_excluded_member():
    result = firewall_plan(
        HOSTVARS, GROUPS, ["swarm_managers", "swarm_workers"], excluded=["w1"], stacks=["swarm"]
    )
    assert set(result["by_host"]) == {"m1", "w2"}
    assert "10.0.0.11" not in result["members"]["v4"] and "192.0.2.11" not in result["members"]["v4"]


def test_plan_errors_include_bad_extra_ports_and_the_ruleset_refuses_them():
    result = firewall_plan(HOSTVARS, GROUPS, ["swarm_managers"], stacks=["swarm"], extra_ports=[{"port": 1}])
    assert result["errors"] and "firewall_extra_ports[0]" in result["errors"][0]
    with pytest.raises(AnsibleFilterError):
        firewall_ruleset(result)
    good = firewall_plan(HOSTVARS, GROUPS, ["swarm_managers"], stacks=["swarm"], settings=SWARM)
    assert "delete table inet flotilla" in firewall_ruleset(good)


# (admin sources, extra ports, host addresses, ssh port, one fragment per expected error)
INPUTS = [
    (["192.0.2.0/24"], [], [], 22, []),
    (["192.0.2.1/24"], [], [], 22, ["firewall_admin_sources[0] 192.0.2.1/24 has host bits set"]),
    ([], [{"port": 22, "proto": "tcp"}], [], 22, ["22/tcp"]),
    (
        [],
        [{"port": "2200-2300", "proto": "tcp"}],
        [],
        2222,
        ["2222/tcp (extra tcp 2200), which is the port"],
    ),
    ([], [], ["not-an-address"], 22, ["firewall_host_addresses[0]"]),
    ([], [], [], "{{ templated }}", []),
]


@pytest.mark.parametrize(("sources", "extra", "addresses", "ssh_port", "fragments"), INPUTS)
def test_input_errors(sources, extra, addresses, ssh_port, fragments):
    errors = firewall_input_errors(
        sources,
        extra_ports=extra,
        stacks=["swarm"],
        settings=SWARM,
        host_addresses=addresses,
        ssh_port=ssh_port,
    )
    assert len(errors) == len(fragments)
    for error, fragment in zip(errors, fragments):  # noqa: B905  lengths compared above
        assert fragment in error


def test_host_errors_over_hosts():
    results = {
        "m1": {"nft": {"present": True, "usable": True}},
        "w1": {"other_firewalls": ["ufw"]},
        "w2": None,
    }
    errors = firewall_host_errors(results)
    assert len(errors) == 1 and errors[0].startswith("w1 runs ufw")
    with pytest.raises(AnsibleFilterError):
        firewall_host_errors(["m1"])
