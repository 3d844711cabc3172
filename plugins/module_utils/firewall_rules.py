# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The members-only firewall of the cluster ports: which ports, which sources, and the ruleset.

Pure functions behind the firewall role (through the ``firewall`` filters) and the
``firewall_host_info`` module, so plain pytest drives them with tables of cases.

The ruleset is one nftables table of our own, ``table inet flotilla`` (IPv4 and IPv6 in one
family). Its only base chain hooks ``input`` with policy accept and drops packets to the cluster
ports unless they come from a member of the cluster (or, for the API ports, an admin source).
nftables runs every base chain on a hook and a packet survives only if none of them drops it,
so the table narrows the cluster ports and leaves every other packet, and every other table
(the host's own policy, Docker's iptables-nft chains), exactly as it was. Published ports of
containers are DNAT-ed in prerouting and forwarded: they never reach this input chain.
The file begins by deleting only this table, so ``nft -f`` replaces it in one transaction.
Runs on managed nodes too: Python 3.9 syntax.
"""

from __future__ import annotations

import ipaddress
import re

TABLE_FAMILY = "inet"
TABLE_NAME = "flotilla"
RULES_PATH = "/etc/flotilla/firewall.nft"
UNIT_NAME = "flotilla-firewall.service"
PROTOCOLS = ("tcp", "udp")

# The ports each cluster stack listens on for its peers: (setting that moves the port or None,
# default port or "low-high", protocol, open to admin sources too, what it is). A stack's role
# adds its name to firewall_stacks; the numbers live here, once.
PORT_TABLE = {
    "swarm": (
        ("swarm_listen_port", 2377, "tcp", True, "Swarm cluster API (joins, Raft; managers)"),
        (None, 7946, "tcp", False, "Swarm gossip"),
        (None, 7946, "udp", False, "Swarm gossip"),
        ("swarm_data_path_port", 4789, "udp", False, "Swarm VXLAN data path"),
    ),
    "k3s": (
        (None, 6443, "tcp", True, "k3s supervisor and Kubernetes API (servers)"),
        (None, "2379-2380", "tcp", False, "k3s embedded etcd (servers)"),
        (None, 10250, "tcp", False, "kubelet"),
        (None, 8472, "udp", False, "flannel VXLAN"),
    ),
}

_EXTRA_PORT_KEYS = {"port", "proto", "admin", "name"}


class PortError(ValueError):
    """A port entry that cannot be used; the message says what is wrong."""


def parse_port_range(value) -> tuple[int, int]:
    """``2377``, ``"2377"`` or ``"2379-2380"`` as ``(low, high)``; raises :class:`PortError`."""
    if isinstance(value, bool):
        raise PortError(f"a port must be a number or a range such as 2379-2380, got {value!r}")
    text = str(value).strip()
    match = re.match(r"^(\d{1,5})(?:-(\d{1,5}))?$", text)
    if not match:
        raise PortError(f"a port must be a number or a range such as 2379-2380, got {value!r}")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if not 1 <= low <= high <= 65535:
        raise PortError(f"ports lie between 1 and 65535, low before high, got {value!r}")
    return low, high


def stack_ports(stacks: list, settings: dict) -> list[dict]:
    """The port entries of the named stacks, with the ports their settings move applied."""
    out = []
    for stack in stacks:
        for setting, default, proto, admin, name in PORT_TABLE[stack]:
            port = settings.get(setting, default) if setting else default
            low, high = parse_port_range(port)
            out.append({"name": name, "proto": proto, "low": low, "high": high, "admin": admin})
    return out


def extra_port_entries(entries: list) -> tuple[list[dict], list[str]]:
    """``firewall_extra_ports`` items as port entries, and the errors naming the bad ones."""
    out, errors = [], []
    for index, entry in enumerate(entries or []):
        where = f"firewall_extra_ports[{index}]"
        if not isinstance(entry, dict):
            errors.append(f"{where} must be a mapping such as {{port: 6443, proto: tcp}}, got {entry!r}")
            continue
        unknown = sorted(set(entry) - _EXTRA_PORT_KEYS)
        if unknown:
            errors.append(f"{where}: unknown keys {', '.join(unknown)} (known: admin, name, port, proto)")
            continue
        proto = entry.get("proto")
        if proto not in PROTOCOLS:
            errors.append(f"{where}: proto must be tcp or udp, got {proto!r}")
            continue
        try:
            low, high = parse_port_range(entry.get("port"))
        except PortError as error:
            errors.append(f"{where}: {error}")
            continue
        out.append(
            {
                "name": str(entry.get("name") or f"extra {proto} {low}"),
                "proto": proto,
                "low": low,
                "high": high,
                "admin": bool(entry.get("admin", False)),
            }
        )
    return out, errors


def port_errors(ports: list[dict], protected: dict) -> list[str]:
    """Refuse a filtered port that would cut the controller off (``protected``: port -> why)."""
    errors = []
    for entry in ports:
        if entry["proto"] != "tcp":
            continue
        for port, why in sorted(protected.items()):
            if entry["low"] <= port <= entry["high"]:
                errors.append(
                    f"the firewall would filter {port}/tcp ({entry['name']}), which is {why}: "
                    "the controller must always reach it; take it out of firewall_extra_ports "
                    "(or move the cluster port with its own setting)"
                )
    return errors


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping and adjacent ranges merged (an nft set refuses overlapping intervals)."""
    merged: list[list[int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return [(low, high) for low, high in merged]


def port_names(ports: list[dict]) -> list[str]:
    """One line per port entry for the file's header, such as ``2377/tcp Swarm cluster API``."""
    names = []
    for entry in ports:
        port = str(entry["low"]) if entry["low"] == entry["high"] else f"{entry['low']}-{entry['high']}"
        name = f"{port}/{entry['proto']} {entry['name']}" + (" (admin)" if entry["admin"] else "")
        if name not in names:
            names.append(name)
    return names


def ports_by_proto(ports: list[dict], admin_only: bool = False) -> dict:
    """{proto: merged [(low, high)]} of the entries (only those open to admins when asked)."""
    out = {}
    for proto in PROTOCOLS:
        ranges = [
            (e["low"], e["high"]) for e in ports if e["proto"] == proto and (e["admin"] or not admin_only)
        ]
        if ranges:
            out[proto] = merge_ranges(ranges)
    return out


# ---------------------------------------------------------------------------------------------
# Addresses


SOURCE_FORM = "an IP address or a CIDR range such as 192.0.2.0/24"


def parse_sources(entries: list, variable: str) -> tuple[list, list, list[str]]:
    """Addresses or CIDR ranges as (IPv4 networks, IPv6 networks, errors naming ``variable``).

    A range with host bits set is refused (``10.0.0.5/24`` is most likely a typo for one host or
    for ``10.0.0.0/24``), as is a range that admits every address (``0.0.0.0/0``, ``::/0``).
    """
    v4, v6, errors = [], [], []
    for index, entry in enumerate(entries or []):
        where = f"{variable}[{index}]"
        if not isinstance(entry, str) or not entry.strip():
            errors.append(f"{where} must be {SOURCE_FORM}, got {entry!r}")
            continue
        text = entry.strip()
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError:
            try:
                loose = ipaddress.ip_network(text, strict=False)
            except ValueError:
                errors.append(f"{where} must be {SOURCE_FORM}, got {text!r}")
            else:
                errors.append(
                    f"{where} {text} has host bits set: write the range as {loose.with_prefixlen}, "
                    f"or the single address as {text.split('/')[0]}"
                )
            continue
        if network.prefixlen == 0:
            errors.append(
                f"{where} {text} admits every address; list the networks that may reach the cluster "
                "ports, or set firewall_enabled: false to leave them open"
            )
            continue
        (v4 if network.version == 4 else v6).append(network)
    return v4, v6, errors


def collapse(networks: list) -> list[str]:
    """Networks deduplicated, those inside a larger one dropped, as nft set elements.

    Single addresses stay single (written without a prefix) even when they are neighbours, so
    the set reads as the inventory's addresses; CIDR blocks are either nested or disjoint, so
    what is left never overlaps (an interval set refuses overlapping elements).
    """
    unique = sorted(set(networks), key=lambda n: (n.version, n.network_address, n.prefixlen))
    kept = [
        n for n in unique if not any(o != n and o.version == n.version and n.subnet_of(o) for o in unique)
    ]
    return [str(n.network_address) if n.prefixlen == n.max_prefixlen else n.with_prefixlen for n in kept]


def ip_or_none(text):
    """The address when ``text`` is an IP address literal (not a name), else None."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def member_addresses(members: dict) -> dict:
    """Each member's addresses, the v4/v6 sets, and the members whose address is unknown.

    ``members`` maps a host to what the controller knows about it:
    {"advertise": the address it advertises (the probe's decision, else swarm_advertise_addr),
    "ansible_host": how Ansible reaches it (a name is not resolved: the controller's DNS answer
    need not be what the other members see), "extra": firewall_host_addresses}.
    """
    by_host, v4, v6, missing, errors = {}, [], [], [], []
    for host, known in members.items():
        found = []
        for value in (known.get("advertise"), known.get("ansible_host")):
            address = ip_or_none(value)
            if address is not None and address not in found:
                found.append(address)
        extra_v4, extra_v6, extra_errors = parse_sources(
            known.get("extra") or [], f"firewall_host_addresses of {host}"
        )
        errors += extra_errors
        networks = [ipaddress.ip_network(a) for a in found] + extra_v4 + extra_v6
        if not networks:
            missing.append(host)
        by_host[host] = collapse(networks)
        v4 += [n for n in networks if n.version == 4]
        v6 += [n for n in networks if n.version == 6]
    return {"by_host": by_host, "v4": collapse(v4), "v6": collapse(v6), "missing": missing, "errors": errors}


def plan(members: dict, ports: list[dict], admin_sources: list) -> dict:
    """Everything the ruleset needs, and the errors that stop the run before anything changes."""
    addresses = member_addresses(members)
    admin_v4, admin_v6, admin_errors = parse_sources(admin_sources, "firewall_admin_sources")
    errors = admin_errors + addresses["errors"]
    if addresses["missing"]:
        errors.append(
            "the firewall cannot tell the address of "
            + ", ".join(addresses["missing"])
            + ": set swarm_advertise_addr (or firewall_host_addresses) for each, or run the play on them"
        )
    return {
        "members": {"v4": addresses["v4"], "v6": addresses["v6"]},
        "by_host": addresses["by_host"],
        "admins": {"v4": collapse(admin_v4), "v6": collapse(admin_v6)},
        "ports": ports_by_proto(ports),
        "admin_ports": ports_by_proto(ports, admin_only=True),
        "names": port_names(ports),
        "errors": errors,
    }


# ---------------------------------------------------------------------------------------------
# The ruleset


def _elements(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in ranges)


def _set(name: str, kind: str, elements: list[str]) -> list[str]:
    lines = [f"\tset {name} {{", f"\t\ttype {kind}", "\t\tflags interval"]
    if elements:
        lines.append(f"\t\telements = {{ {', '.join(elements)} }}")
    return lines + ["\t}", ""]


def render(plan_: dict) -> str:
    """The nft file: delete our table (only ours), then define it whole; one transaction."""
    table = f"table {TABLE_FAMILY} {TABLE_NAME}"
    lines = [
        "#!/usr/sbin/nft -f",
        "# Written by flotilla (role flotilla.cluster.firewall); each run of site.yml rewrites it.",
        "# Packets to these ports are dropped unless they come from a cluster member (ports marked",
        "# admin: or from an admin source). Nothing else is filtered here; other tables are left alone.",
    ]
    lines += [f"#   {name}" for name in plan_["names"]]
    lines += [
        "",
        "# create-then-delete: replaces only this table, whether or not it was loaded",
        table,
        f"delete {table}",
        "",
        table + " {",
    ]
    lines += _set("members_v4", "ipv4_addr", plan_["members"]["v4"])
    lines += _set("members_v6", "ipv6_addr", plan_["members"]["v6"])
    lines += _set("admins_v4", "ipv4_addr", plan_["admins"]["v4"])
    lines += _set("admins_v6", "ipv6_addr", plan_["admins"]["v6"])
    lines += [
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy accept;",
        '\t\tiif "lo" accept comment "the host itself"',
        '\t\tip saddr @members_v4 accept comment "cluster members"',
        '\t\tip6 saddr @members_v6 accept comment "cluster members"',
    ]
    for proto, ranges in plan_["admin_ports"].items():
        for family, version in (("ip", "v4"), ("ip6", "v6")):
            if plan_["admins"][version]:
                match = f"{proto} dport {{ {_elements(ranges)} }} {family} saddr @admins_{version}"
                lines.append(f'\t\t{match} accept comment "admin sources"')
    for proto, ranges in plan_["ports"].items():
        lines.append(
            f'\t\t{proto} dport {{ {_elements(ranges)} }} counter drop comment "cluster ports: members only"'
        )
    lines += ["\t}", "}", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Host side: can this host carry the table?


def ufw_enabled(conf_text: str) -> bool:
    """Whether /etc/ufw/ufw.conf turns ufw on at boot (``ENABLED=yes``)."""
    for line in conf_text.splitlines():
        key, _, value = line.strip().partition("=")
        if key.strip() == "ENABLED":
            return value.strip().strip("\"'").lower() == "yes"
    return False


def kernel_nf_tables(loaded: bool, modules_dep, modules_builtin):
    """True: the kernel has nf_tables; False: certainly not; None: cannot tell (no module lists).

    ``loaded``: /sys/module/nf_tables exists. The module lists are the text of modules.dep and
    modules.builtin for the running kernel, or None when absent (inside a container, say).
    """
    if loaded:
        return True
    if modules_dep is None and modules_builtin is None:
        return None
    pattern = re.compile(r"(^|/)nf_tables\.ko")
    return any(
        pattern.search(line)
        for text in (modules_dep or "", modules_builtin or "")
        for line in text.splitlines()
    )


def host_errors(host: str, probe: dict) -> list[str]:
    """Why an enabled firewall cannot go on this host, from the firewall_host_info result."""
    errors = []
    others = probe.get("other_firewalls") or []
    if others:
        errors.append(
            f"{host} runs {' and '.join(others)}; with firewall_enabled: true flotilla manages nftables "
            f"directly and supports hosts without {' or '.join(others)} only for now: open the cluster "
            f"ports to the members in {others[0]} and set firewall_enabled: false for this host, "
            f"or turn {others[0]} off"
        )
    nft = probe.get("nft") or {}
    if nft.get("present") and not nft.get("usable"):
        errors.append(
            f"{host} cannot run nft ({nft.get('error') or 'nft list tables failed'}); firewall_enabled "
            "needs a kernel with nf_tables and root: fix nft on the host, or set firewall_enabled: false"
        )
    elif not nft.get("present") and probe.get("kernel_nf_tables") is False:
        errors.append(
            f"{host}'s kernel has no nf_tables module, so nft cannot run there; "
            "set firewall_enabled: false for this host"
        )
    return errors
