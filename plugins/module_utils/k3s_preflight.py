# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The k3s preflight decisions: the inventory's layout, and what each host measured.

Pure and table-tested, so the decisions a test host cannot reproduce (another kernel, a missing
cgroup controller) are checked on measured inputs. The k3s_host_info module measures; the
k3s_server role's validate tasks ask these functions and refuse before any host changes.
Python 3.9 syntax.
"""

from __future__ import annotations

# TCP ports k3s listens on (docs.k3s.io, installation requirements: inbound rules for nodes)
SERVER_PORTS = (6443, 2379, 2380, 10250)
AGENT_PORTS = (10250,)
# cgroup controllers the kubelet needs (k3s check-config's required list)
REQUIRED_CONTROLLERS = ("cpu", "cpuset", "memory", "pids")
MIN_KERNEL = (4, 15)


def layout_errors(
    servers: list[str],
    agents: list[str],
    swarm_hosts: list[str],
    endpoints: dict[str, str],
    allow_swarm_overlap: bool = False,
    external_datastore: bool = False,
    allow_even_servers: bool = False,
) -> list[str]:
    """Problems with the k3s groups; ``endpoints`` maps a host to how Ansible reaches it (addr:port)."""
    errors: list[str] = []
    members = list(dict.fromkeys(servers + agents))
    if members and not servers:
        errors.append("the inventory has k3s hosts but no servers: put 1, 3 or 5 hosts in k3s_servers")
    if servers and len(servers) % 2 == 0 and not external_datastore and not allow_even_servers:
        errors.append(
            f"{len(servers)} servers with embedded etcd tolerate no more failures than {len(servers) - 1}: "
            "use an odd number (3 or 5 for high availability), or set k3s_allow_even_servers: true"
        )
    for host in servers:
        if host in agents:
            errors.append(f"{host} is in both k3s_servers and k3s_agents: a server already runs an agent")
    if not allow_swarm_overlap:
        for host in members:
            if host in swarm_hosts:
                errors.append(
                    f"{host} is in a Swarm group and a k3s group: one host runs one orchestrator; "
                    "set k3s_allow_swarm_overlap: true only if you mean both to share it"
                )
    seen: dict[str, list[str]] = {}
    for host in members:
        seen.setdefault(endpoints.get(host, host), []).append(host)
    for endpoint, hosts in seen.items():
        if len(hosts) > 1:
            errors.append(
                f"hosts {', '.join(hosts)} all reach {endpoint}: one machine can be only one k3s node"
            )
    return errors


def _kernel_tuple(release: str) -> tuple[int, int]:
    parts = (release or "").split("-", 1)[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (0, 0)


def host_errors(host: str, role: str, measured: dict, require_cgroup_v2: bool = False) -> list[str]:
    """What keeps this host from running k3s, from one k3s_host_info result."""
    errors: list[str] = []
    cgroup = measured.get("cgroup_version")
    controllers = set(measured.get("cgroup_controllers") or [])
    if cgroup not in ("v1", "v2"):
        errors.append(f"{host}: no cgroup file system is mounted at /sys/fs/cgroup; k3s needs cgroups")
    else:
        if require_cgroup_v2 and cgroup != "v2":
            errors.append(
                f"{host}: runs cgroup {cgroup} but k3s_require_cgroup_v2 is true: boot it with the unified "
                "hierarchy (systemd.unified_cgroup_hierarchy=1) or set k3s_require_cgroup_v2: false"
            )
        missing = [c for c in REQUIRED_CONTROLLERS if c not in controllers]
        if missing:
            errors.append(
                f"{host}: the cgroup controller(s) {', '.join(missing)} are not available; "
                "the kubelet needs them"
            )
    kernel = measured.get("kernel", "")
    if _kernel_tuple(kernel) < MIN_KERNEL:
        errors.append(f"{host}: kernel {kernel or 'unknown'} is older than {MIN_KERNEL[0]}.{MIN_KERNEL[1]}")
    if not measured.get("overlay"):
        errors.append(
            f"{host}: the overlay file system is not available (containerd's default snapshotter needs it)"
        )
    if not measured.get("k3s_running"):
        wanted = SERVER_PORTS if role == "server" else AGENT_PORTS
        taken = sorted(set(wanted) & set(measured.get("listening_tcp") or []))
        if taken:
            errors.append(
                f"{host}: TCP port(s) {', '.join(map(str, taken))} already in use by another program; "
                f"a k3s {role} listens there"
            )
    return errors


def cluster_host_errors(results: dict[str, dict]) -> list[str]:
    """Problems across hosts: two hosts with the same system host name (Kubernetes node name)."""
    errors: list[str] = []
    names: dict[str, list[str]] = {}
    for host, measured in sorted(results.items()):
        name = measured.get("hostname")
        if name:
            names.setdefault(name, []).append(host)
    for name, hosts in names.items():
        if len(hosts) > 1:
            errors.append(
                f"hosts {', '.join(hosts)} share the system host name {name}: it becomes the node name, "
                "so give each host its own or set k3s_node_name"
            )
    return errors


def listening_tcp_ports(proc_net_tcp: str) -> list[int]:
    """Local ports in LISTEN state (``0A``) from the text of /proc/net/tcp or /proc/net/tcp6."""
    ports = set()
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and ":" in fields[1]:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


def cgroup_controllers(version: str, unified_controllers: str = "", proc_cgroups: str = "") -> list[str]:
    """Available controllers: cgroup.controllers on v2, the enabled rows of /proc/cgroups on v1."""
    if version == "v2":
        return sorted(unified_controllers.split())
    found = []
    for line in proc_cgroups.splitlines():
        fields = line.split()
        if len(fields) == 4 and not line.startswith("#") and fields[3] == "1":
            found.append(fields[0])
    return sorted(found)
