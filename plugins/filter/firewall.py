# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Filters the firewall role uses on the controller: check its inputs, plan the sets, render.

Thin wrappers: the decisions live in module_utils/firewall_rules.py, where unit tests drive them.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.flotilla.cluster.plugins.module_utils.firewall_rules import (
    extra_port_entries,
    host_errors,
    parse_sources,
    plan,
    port_errors,
    render,
    stack_ports,
)


def _ports(stacks, extra_ports, settings) -> tuple[list, list]:
    extra, errors = extra_port_entries(list(extra_ports or []))
    return stack_ports(list(stacks or []), dict(settings or {})) + extra, errors


def firewall_input_errors(
    admin_sources, extra_ports=(), stacks=(), settings=None, host_addresses=(), ssh_port=22
):
    """Messages naming the variable to fix; empty when the firewall variables are usable."""
    _v4, _v6, errors = parse_sources(admin_sources, "firewall_admin_sources")
    _v4, _v6, address_errors = parse_sources(host_addresses, "firewall_host_addresses")
    ports, port_entry_errors = _ports(stacks, extra_ports, settings)
    protected = {22: "the SSH port"}
    if str(ssh_port).isdigit():
        protected[int(ssh_port)] = "the port Ansible reaches this host on (ansible_port)"
    return errors + address_errors + port_entry_errors + port_errors(ports, protected)


def _member_hosts(groups, member_groups, excluded) -> list[str]:
    hosts = []
    for group in member_groups or []:
        for host in groups.get(group) or []:
            if host not in hosts and host not in (excluded or []):
                hosts.append(host)
    return hosts


def firewall_plan(
    hostvars, groups, member_groups, excluded=(), stacks=(), extra_ports=(), admin_sources=(), settings=None
):
    """The member and admin sets and the ports of this run, with the errors that stop it.

    A member's address is the one its firewall_host_info probe decided (as the swarm role
    decides it), else its swarm_advertise_addr; its ansible_host (when an IP address) and its
    firewall_host_addresses are admitted too.
    """
    if not isinstance(groups, dict):
        raise AnsibleFilterError("firewall_plan expects the inventory's groups mapping")
    members = {}
    for host in _member_hosts(groups, member_groups, excluded):
        known = hostvars[host]
        probe = known.get("__firewall_host") or {}
        advertise = (probe.get("advertise") or {}).get("addr") or known.get("swarm_advertise_addr") or ""
        members[host] = {
            "advertise": advertise,
            "ansible_host": known.get("ansible_host") or host,
            "extra": list(known.get("firewall_host_addresses") or []),
        }
    ports, errors = _ports(stacks, extra_ports, settings)
    result = plan(members, ports, list(admin_sources or []))
    result["errors"] = errors + result["errors"]
    return result


def firewall_ruleset(plan_):
    """The nft file for a plan without errors."""
    if not isinstance(plan_, dict) or plan_.get("errors"):
        raise AnsibleFilterError(
            "firewall_ruleset needs a plan without errors: " + "; ".join(plan_.get("errors", []))
        )
    return render(plan_)


def firewall_host_errors(results):
    """Refusals over every host's firewall_host_info result ({host: result}), inventory order."""
    if not isinstance(results, dict):
        raise AnsibleFilterError(
            "firewall_host_errors expects a mapping of host name to firewall_host_info result"
        )
    errors = []
    for host, result in results.items():
        if result:
            errors += host_errors(host, dict(result))
    return errors


class FilterModule:
    def filters(self):
        return {
            "firewall_input_errors": firewall_input_errors,
            "firewall_plan": firewall_plan,
            "firewall_ruleset": firewall_ruleset,
            "firewall_host_errors": firewall_host_errors,
        }
