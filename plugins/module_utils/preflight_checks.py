# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Host preflight of the swarm role: parse what a host measured, and decide what to refuse.

Two halves, both pure so that plain pytest drives them with tables of measured inputs:

* Host side (run inside the ``swarm_preflight`` module): the host's own addresses from
  ``/proc/net/fib_trie`` and ``/proc/net/if_inet6``, and which Swarm ports the host's firewall
  rules (``iptables-save`` and ``nft list ruleset`` text) drop or reject on input.
* Controller side (the ``swarm_preflight_errors`` filter): one list of refusals over all hosts -
  an advertise address the host does not have, a port a local rule blocks, a peer that cannot be
  reached over TCP, too little disk under the engine's data root, and a clock that disagrees
  with the controller's. Every message names the host and says what to fix.

What can be proven: TCP reachability (a dropped SYN times out; a port that should listen and is
refused is blocked or down), and local firewall rules that are plain enough to read (protocol,
destination port, input interface). UDP (7946 gossip, 4789 VXLAN) has no handshake: silence
means "delivered" as much as "dropped", so UDP is judged from the firewall rules only.
Runs on managed nodes: Python 3.9 syntax.
"""

from __future__ import annotations

import ipaddress
import re

GOSSIP_PORT = 7946
# the table of the firewall role (module_utils/firewall_rules.py), as nft lists it
FLOTILLA_TABLE = "inet flotilla"

VERDICT_ACCEPT = "accept"
VERDICT_DROP = "drop"
VERDICT_UNKNOWN = "unknown"

# Connection outcomes the module reports for a TCP probe.
TCP_OPEN = "open"
TCP_REFUSED = "refused"
TCP_TIMEOUT = "timeout"
TCP_UNREACHABLE = "unreachable"
TCP_ERROR = "error"


# ---------------------------------------------------------------------------------------------
# Host side: addresses


def local_addresses(fib_trie: str, if_inet6: str) -> list[str]:
    """Every address configured on the host: IPv4 ``host LOCAL`` entries and IPv6 from if_inet6."""
    found = set()
    last = None
    for line in fib_trie.splitlines():
        stripped = line.strip()
        match = re.match(r"^[|+]-- (\d+\.\d+\.\d+\.\d+)$", stripped)
        if match:
            last = match.group(1)
        elif last and stripped.startswith("/32 host LOCAL"):
            found.add(last)
    for line in if_inet6.splitlines():
        fields = line.split()
        if fields and len(fields[0]) == 32:
            try:
                found.add(str(ipaddress.IPv6Address(int(fields[0], 16))))
            except ValueError:
                continue
    return sorted(found, key=lambda a: (":" in a, a))


def same_address(left: str, right: str) -> bool:
    try:
        return ipaddress.ip_address(left) == ipaddress.ip_address(right)
    except ValueError:
        return left == right


# ---------------------------------------------------------------------------------------------
# Host side: firewall rules
#
# Both listings are reduced to chains of simple rules:
#   {"proto": "tcp"|"udp"|None, "ports": [(low, high)] or None, "iface": name or None,
#    "iface_negated": bool, "conditional": bool, "verdict": "accept"|"drop"|"jump"|"goto"|"return"|None,
#    "target": chain name for jump/goto, "text": the rule as listed}
# "conditional" marks a rule with a matcher this reader does not model (source address, state,
# marks, u32...): it applies to some packets only.


def _port_ranges(text: str) -> list[tuple[int, int]]:
    ranges = []
    for part in re.split(r"[,\s]+", text.strip().strip("{}").strip()):
        if not part:
            continue
        low, _, high = part.replace(":", "-").partition("-")
        try:
            ranges.append((int(low), int(high or low)))
        except ValueError:
            return []
    return ranges


_IPT_PORT_OPTS = {"--dport", "--destination-port", "--dports", "--destination-ports"}
_IPT_MATCHES = {"tcp", "udp", "multiport", "comment", "state", "conntrack"}
_IPT_BUILTIN = {"ACCEPT": VERDICT_ACCEPT, "DROP": VERDICT_DROP, "REJECT": VERDICT_DROP, "RETURN": "return"}
_IPT_NON_TERMINAL = {"LOG", "NFLOG", "MARK", "CONNMARK", "TRACE", "NOTRACK", "CT", "AUDIT"}


def _new_rule(text: str) -> dict:
    return {
        "proto": None,
        "ports": None,
        "iface": None,
        "iface_negated": False,
        "conditional": False,
        "new_connections": True,
        "verdict": None,
        "target": None,
        "text": text,
    }


def _states_admit_new(states: str) -> bool:
    """Whether a conntrack state list matches the first packet of a connection."""
    names = {name.strip().lower() for name in re.split(r"[,{}\s]+", states) if name.strip()}
    return bool(names & {"new", "untracked"})


def _iptables_rule(tokens: list[str], text: str) -> dict:
    rule = _new_rule(text)
    index = 0
    while index < len(tokens):
        negate = tokens[index] == "!"
        if negate:
            index += 1
        token = tokens[index] if index < len(tokens) else ""
        value = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token in ("-j", "--jump", "-g", "--goto"):
            # target options (--reject-with ...) follow the target: nothing after it matches packets
            if value in _IPT_BUILTIN:
                rule["verdict"] = _IPT_BUILTIN[value]
            elif value not in _IPT_NON_TERMINAL:
                rule["verdict"] = "goto" if token in ("-g", "--goto") else "jump"
                rule["target"] = value
            break
        if token in ("-p", "--protocol"):
            if negate or value not in ("tcp", "udp", "all"):
                rule["conditional"] = True
            elif value != "all":
                rule["proto"] = value
        elif token in _IPT_PORT_OPTS:
            ranges = _port_ranges(value)
            if negate or not ranges:
                rule["conditional"] = True
            else:
                rule["ports"] = ranges
        elif token in ("-i", "--in-interface"):
            rule["iface"], rule["iface_negated"] = value, negate
        elif token in ("--state", "--ctstate"):
            if negate:
                rule["conditional"] = True
            elif not _states_admit_new(value):
                rule["new_connections"] = False
        elif token in ("-m", "--match"):
            if value not in _IPT_MATCHES:
                rule["conditional"] = True
        elif token == "--comment":  # noqa: S105  an iptables option, not a secret
            # iptables-save quotes a comment with spaces: skip to its closing quote
            while value.startswith('"') and not value.endswith('"') and index + 2 < len(tokens):
                index += 1
                value = value + " " + tokens[index + 1]
        else:
            # any other matcher (addresses, marks, limits, u32...) narrows the rule
            rule["conditional"] = True
            if value.startswith("-") or not value:
                index += 1
                continue
        index += 2
    return rule


def parse_iptables_save(text: str) -> dict:
    """The filter table of ``iptables-save``/``ip6tables-save`` output: {chain: {policy, rules}}."""
    chains: dict = {}
    table = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
        elif table != "filter":
            continue
        elif line.startswith(":"):
            name, policy = (line[1:].split() + ["-"])[:2]
            chains.setdefault(name, {"policy": None, "rules": []})
            chains[name]["policy"] = {"ACCEPT": VERDICT_ACCEPT, "DROP": VERDICT_DROP}.get(policy)
        elif line.startswith("-A "):
            tokens = line.split()
            chain = tokens[1]
            chains.setdefault(chain, {"policy": None, "rules": []})
            chains[chain]["rules"].append(_iptables_rule(tokens[2:], line))
    return chains


_NFT_VERDICTS = {"accept": VERDICT_ACCEPT, "drop": VERDICT_DROP, "reject": VERDICT_DROP, "return": "return"}
_NFT_NEUTRAL = {"counter", "log"}


def _nft_rule(text: str) -> dict:
    rule = _new_rule(text)
    body = re.sub(r'comment "[^"]*"', "", text)
    body = re.sub(r"counter packets \d+ bytes \d+", "", body)
    body = re.sub(r"\blog( prefix \"[^\"]*\")?", "", body)
    match = re.search(r"\b(tcp|udp|th) dport (!= )?(\{[^}]*\}|\S+)", body)
    if match:
        if match.group(1) != "th":
            rule["proto"] = match.group(1)
        ranges = _port_ranges(match.group(3))
        if match.group(2) or not ranges:
            rule["conditional"] = True
        else:
            rule["ports"] = ranges
        body = body.replace(match.group(0), " ")
    match = re.search(r"\bmeta l4proto (!= )?(\{[^}]*\}|\S+)", body)
    if match:
        if match.group(1) or match.group(2) not in ("tcp", "udp"):
            rule["conditional"] = True
        else:
            rule["proto"] = match.group(2)
        body = body.replace(match.group(0), " ")
    match = re.search(r"\bct state (!= )?(\{[^}]*\}|\S+)", body)
    if match:
        if match.group(1):
            rule["conditional"] = True
        elif not _states_admit_new(match.group(2)):
            rule["new_connections"] = False
        body = body.replace(match.group(0), " ")
    match = re.search(r"\b(?:meta )?iif(?:name)? (!= )?\"?([^\"\s]+)\"?", body)
    if match:
        rule["iface"] = match.group(2).replace("*", "+")
        rule["iface_negated"] = bool(match.group(1))
        body = body.replace(match.group(0), " ")
    match = re.search(r"\b(jump|goto) (\S+)\s*$", body)
    if match:
        rule["verdict"] = match.group(1)
        rule["target"] = match.group(2)
        body = body[: match.start()]
    else:
        words = body.split()
        verdict = words[-1] if words else ""
        if verdict in _NFT_VERDICTS:
            rule["verdict"] = _NFT_VERDICTS[verdict]
            words = words[:-1]
        elif verdict == "with" or "reject" in words:
            rule["verdict"] = VERDICT_DROP
            words = words[: words.index("reject")]
        body = " ".join(words)
    if [word for word in body.split() if word not in _NFT_NEUTRAL]:
        rule["conditional"] = True
    return rule


def parse_nft_ruleset(text: str) -> dict:
    """``nft list ruleset`` text: {"<family> <table>/<chain>": {policy, hook, type, rules}}."""
    chains: dict = {}
    table = None
    chain = None
    other_block = False  # a set, map, flowtable... inside a table: its closing brace is not the table's
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if other_block:
            other_block = line != "}"
            continue
        if table and not chain and line.endswith("{") and not line.startswith("chain "):
            other_block = True
            continue
        match = re.match(r"^table (\S+) (\S+) \{$", line)
        if match:
            table, chain = f"{match.group(1)} {match.group(2)}", None
            continue
        match = re.match(r"^chain (\S+) \{$", line)
        if match and table:
            chain = f"{table}/{match.group(1)}"
            chains[chain] = {"policy": None, "hook": None, "type": None, "rules": []}
            continue
        if line == "}":
            if chain:
                chain = None
            else:
                table = None
            continue
        if not chain:
            continue
        if line.startswith("type "):
            hook = re.search(r"\bhook (\w+)", line)
            kind = re.search(r"^type (\w+)", line)
            policy = re.search(r"\bpolicy (\w+)", line)
            chains[chain]["hook"] = hook.group(1) if hook else None
            chains[chain]["type"] = kind.group(1) if kind else None
            chains[chain]["policy"] = {"accept": VERDICT_ACCEPT, "drop": VERDICT_DROP}.get(
                policy.group(1) if policy else "accept"
            )
            continue
        chains[chain]["rules"].append(_nft_rule(line))
    return chains


def _iface_matches(pattern: str, iface: str | None) -> bool | None:
    """Whether a rule's interface applies to traffic on ``iface``; None when that is not known."""
    if iface is None:
        return None
    if pattern.endswith("+"):
        return iface.startswith(pattern[:-1])
    return iface == pattern


def _rule_applies(rule: dict, port: int, proto: str, iface: str | None) -> bool | None:
    """True: the rule matches every packet to port/proto on iface; False: none; None: some."""
    if not rule["new_connections"]:
        return False
    if rule["proto"] and rule["proto"] != proto:
        return False
    if rule["ports"] is not None and not any(low <= port <= high for low, high in rule["ports"]):
        return False
    if rule["iface"]:
        if rule["iface"] == "lo" and not rule["iface_negated"]:
            return False
        matches = _iface_matches(rule["iface"], iface)
        if matches is None:
            return None
        if matches == rule["iface_negated"]:
            return False
    if rule["conditional"]:
        return None
    return True


def _walk(chains: dict, name: str, port: int, proto: str, iface: str | None, depth: int = 0) -> tuple:
    """(verdict or None for fall-through, deciding rule text, a conditional drop seen on the way)."""
    maybe_dropped = ""
    if depth > 16 or name not in chains:
        return VERDICT_UNKNOWN, "", maybe_dropped
    for rule in chains[name]["rules"]:
        applies = _rule_applies(rule, port, proto, iface)
        if applies is False or rule["verdict"] is None:
            continue
        if rule["verdict"] in ("jump", "goto"):
            verdict, text, maybe = _walk(chains, rule["target"], port, proto, iface, depth + 1)
            maybe_dropped = maybe_dropped or maybe
            if applies is None and verdict == VERDICT_DROP:
                maybe_dropped = maybe_dropped or text
                continue
            if verdict is not None or rule["verdict"] == "goto":
                return (VERDICT_UNKNOWN if applies is None and verdict else verdict), text, maybe_dropped
            continue
        if rule["verdict"] == "return":
            if applies:
                return None, "", maybe_dropped
            continue
        if applies is None:
            if rule["verdict"] == VERDICT_DROP:
                maybe_dropped = maybe_dropped or rule["text"]
                continue
            # accepted for some senders (a trusted subnet, say): the rules alone cannot tell
            return VERDICT_UNKNOWN, rule["text"], maybe_dropped
        return rule["verdict"], rule["text"], maybe_dropped
    return None, "", maybe_dropped


def input_verdicts(chains: dict, base_chains: dict, ports: list, iface: str | None) -> list[dict]:
    """What the input path does to each (port, proto): [{port, proto, verdict, rule, maybe}].

    ``base_chains`` maps each chain that packets enter (iptables' INPUT, nft's input hooks) to its
    policy; a packet must pass every one of them. ``verdict`` is drop when a rule or the policy
    certainly drops the port, unknown when a rule the reader does not model decides it.
    """
    out = []
    for port, proto in ports:
        verdict, text, maybe = VERDICT_ACCEPT, "", ""
        for name, policy in base_chains.items():
            chain_verdict, chain_text, chain_maybe = _walk(chains, name, port, proto, iface)
            maybe = maybe or chain_maybe
            if chain_verdict is None:
                chain_verdict = policy or VERDICT_ACCEPT
                chain_text = f"policy {chain_verdict} of chain {name}"
            if chain_verdict == VERDICT_DROP:
                verdict, text = VERDICT_DROP, chain_text
                break
            if chain_verdict == VERDICT_UNKNOWN:
                verdict, text = VERDICT_UNKNOWN, chain_text
        out.append({"port": port, "proto": proto, "verdict": verdict, "rule": text, "maybe": maybe})
    return out


def iptables_base_chains(chains: dict) -> dict:
    return {"INPUT": chains["INPUT"]["policy"]} if "INPUT" in chains else {}


def has_flotilla_table(chains: dict) -> bool:
    """Whether the ruleset holds the table of flotilla's firewall role (``table inet flotilla``)."""
    return any(name.startswith(f"{FLOTILLA_TABLE}/") for name in chains)


def nft_base_chains(chains: dict) -> dict:
    return {
        name: chain["policy"]
        for name, chain in chains.items()
        if chain["hook"] == "input"
        and chain["type"] == "filter"
        and name.split(" ", 1)[0] in ("ip", "ip6", "inet")
    }


def swarm_ports(role: str, listen_port: int, data_path_port: int) -> list[tuple[int, str]]:
    """The ports other nodes send to on this host: the cluster API on managers, gossip and VXLAN."""
    ports = [(listen_port, "tcp")] if role == "manager" else []
    return ports + [(GOSSIP_PORT, "tcp"), (GOSSIP_PORT, "udp"), (data_path_port, "udp")]


# ---------------------------------------------------------------------------------------------
# Controller side: decisions on measured values


def advertise_errors(host: str, explicit: str, addresses: list[str]) -> list[str]:
    if not explicit or any(same_address(explicit, address) for address in addresses):
        return []
    shown = ", ".join(a for a in addresses if not a.startswith(("127.", "::1", "fe80:"))) or "none"
    return [
        f"{host}: swarm_advertise_addr {explicit} is not an address of this host (it has {shown}); "
        "set the address of one of its interfaces, or swarm_advertise_interface"
    ]


def disk_errors(host: str, disk: dict, min_free_mb: int) -> list[str]:
    """Refuse when the file system of the engine's data root has less free space than asked."""
    if not disk or disk.get("free_mb") is None or min_free_mb <= 0:
        return []
    if disk["free_mb"] >= min_free_mb:
        return []
    where = (
        disk["path"]
        if disk.get("measured_path") in (None, disk["path"])
        else (f"{disk['path']} (measured on {disk['measured_path']}, which holds it)")
    )
    return [
        f"{host}: only {disk['free_mb']} MB free under {where}, below swarm_min_free_disk_mb "
        f"({min_free_mb} MB); free space there (images, volumes, the swarm's Raft log) or lower the limit"
    ]


def clock_skew_bounds(host_time: float, before: float, after: float) -> tuple[float, float]:
    """The host clock minus the controller clock lies between these bounds (seconds).

    The host read its clock at some instant between the controller's readings ``before`` and
    ``after`` (the round trip of the module), so only that window is known, not the exact instant.
    """
    return host_time - after, host_time - before


def clock_errors(host: str, host_time, before, after, max_skew: float) -> list[str]:
    """Refuse a clock that certainly differs from the controller's by more than ``max_skew``.

    Only a skew beyond the limit for every instant in the round trip counts: a slow connection
    widens the window and must not make a correct clock look wrong.
    """
    if host_time is None or before is None or after is None or max_skew <= 0:
        return []
    low, high = clock_skew_bounds(host_time, before, after)
    if low > max_skew:
        skew, direction = low, "ahead of"
    elif high < -max_skew:
        skew, direction = -high, "behind"
    else:
        return []
    return [
        f"{host}: its clock is {skew:.1f}s {direction} the controller's (limit swarm_max_clock_skew_seconds: "
        f"{max_skew:g}s); Raft elections and the swarm's TLS certificates need agreeing clocks: "
        "synchronise it (chrony or systemd-timesyncd against the same NTP servers) and re-run"
    ]


def firewall_errors(host: str, firewall: dict) -> list[str]:
    errors = []
    seen = set()
    for item in firewall.get("verdicts", []):
        key = (item["port"], item["proto"])
        if item["verdict"] != VERDICT_DROP or key in seen:
            continue
        seen.add(key)
        errors.append(
            f"{host}: its firewall ({item['tool']}) blocks {item['port']}/{item['proto']}, which the swarm "
            f"needs (rule: {item['rule']}); accept that port from the other nodes before this host joins"
        )
    return errors


def reachability_errors(host: str, probes: list[dict], members: dict) -> list[str]:
    """Refuse TCP paths that are certainly broken.

    ``members`` maps a peer's name to its swarm state as the peer itself measured it
    ({"active": bool, "manager": bool, "flotilla_firewall": bool}). A timeout or no route is always
    a broken path (the packet was dropped on the way), except towards a peer that carries the
    table of flotilla's firewall role: the same run rewrites its member set from the inventory
    before any join. A refused connection proves the path open unless the peer is a member that
    must be listening on that port.
    """
    errors = []
    for probe in probes:
        peer = members.get(probe["peer"], {})
        result = probe["result"]
        if result == TCP_OPEN:
            continue
        listening = peer.get("active") and (probe["port"] == GOSSIP_PORT or peer.get("manager"))
        if result == TCP_REFUSED and not listening:
            continue
        if result == TCP_TIMEOUT and peer.get("flotilla_firewall"):
            # the peer's own table of flotilla's firewall role drops it: a host the inventory adds
            # is not in the peer's member set yet, and this run rewrites that set before any join
            continue
        if result == TCP_ERROR:
            continue
        what = {
            TCP_TIMEOUT: "timed out (something between them drops the packets)",
            TCP_UNREACHABLE: "found no route",
            TCP_REFUSED: "was refused although the swarm listens there (a firewall rejects it)",
        }[result]
        errors.append(
            f"{host}: a TCP connection to {probe['peer']} at {probe['address']}:{probe['port']} {what}; "
            f"open {probe['port']}/tcp between the swarm nodes (and check the address they use)"
        )
    return errors


def duplicate_errors(results: dict, planned_hostnames: dict | None = None) -> list[str]:
    """Hosts that would share a node name or an advertise address (inventory names differ).

    `planned_hostnames` maps a host to the name the run gives it before the engine starts (the
    prereq role's host name step); the engine names its node after that name, not today's.
    """
    planned = {host: name for host, name in (planned_hostnames or {}).items() if name}
    results = {
        host: dict(result, hostname=planned[host]) if host in planned else result
        for host, result in results.items()
    }
    errors = []
    for key, what, fix in (
        ("hostname", "the system host name", "node names would be ambiguous: give each host its own name"),
        (
            "advertise",
            "the advertise address",
            "set swarm_advertise_addr or swarm_advertise_interface per host",
        ),
    ):
        holders: dict = {}
        for host, result in results.items():
            value = result.get(key)
            value = value.get("addr") if isinstance(value, dict) else value
            if value:
                holders.setdefault(value, []).append(host)
        for value, hosts in holders.items():
            if len(hosts) > 1:
                errors.append(f"hosts {', '.join(hosts)} share {what} {value}: {fix}")
    return errors


def preflight_errors(results: dict, planned_hostnames: dict | None = None) -> list[str]:
    """Every refusal over all hosts, from each host's ``swarm_preflight`` result (inventory order).

    `planned_hostnames`: see duplicate_errors.
    """
    members = {}
    for host, result in results.items():
        swarm = result.get("swarm") or {}
        members[host] = {
            "active": swarm.get("state") == "active",
            "manager": bool(swarm.get("is_manager")),
            "flotilla_firewall": bool((result.get("firewall") or {}).get("flotilla_table")),
        }
    errors = duplicate_errors(results, planned_hostnames)
    for host, result in results.items():
        limits = result.get("limits", {})
        if result.get("advertise", {}).get("error"):
            errors.append(f"{host}: {result['advertise']['error']}")
        errors += advertise_errors(host, limits.get("advertise_addr", ""), result.get("addresses", []))
        errors += firewall_errors(host, result.get("firewall", {}))
        errors += reachability_errors(host, result.get("reachability", []), members)
        errors += disk_errors(host, result.get("disk", {}), int(limits.get("min_free_disk_mb", 0)))
        controller = result.get("controller_time") or {}
        errors += clock_errors(
            host,
            result.get("host_time"),
            controller.get("before"),
            controller.get("after"),
            float(limits.get("max_clock_skew_seconds", 0)),
        )
    return errors
