"""Before/after snapshots of test hosts, and running playbooks against them, for the swarm tests.

The package/engine part of the snapshot is test_site_playbook's own (imported, not copied), and
`ssh` is the test hosts' own (flotilla.testhosts.hosts); the swarm tests add what a refused swarm
run must not touch either: the host name, the node's Swarm membership and role, the firewall
rules, and the node list a manager sees.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import yaml
from test_site_playbook import SNAPSHOT as PACKAGE_SNAPSHOT

from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts.hosts import ssh

ROOT = Path(__file__).resolve().parents[2]

# What belongs to the host itself: packages, /etc/docker, engine, name, node ID and role, firewall.
HOST_SNAPSHOT = PACKAGE_SNAPSHOT + (
    "; hostname"
    "; docker info --format '{{.Swarm.NodeID}} {{.Swarm.ControlAvailable}}' 2>/dev/null"
    "; iptables -S 2>/dev/null | sha256sum; true"
)
# Plus the cluster as this node sees it (on managers: the node list).
SWARM_SNAPSHOT = HOST_SNAPSHOT + (
    "; docker info --format '{{.Swarm.Managers}} {{.Swarm.Nodes}}' 2>/dev/null"
    "; docker node ls --format '{{.Hostname}} {{.ManagerStatus}} {{.Availability}}' 2>/dev/null | sort; true"
)

__all__ = ["ROOT", "inventory", "recap", "run_playbook", "snapshots", "ssh"]


def snapshots(found: dict[str, testhosts.Host], cluster: bool = True) -> dict[str, str]:
    """Each host's snapshot; ``cluster=False`` leaves out the node list, which grows by design."""
    command = SWARM_SNAPSHOT if cluster else HOST_SNAPSHOT
    return {name: ssh(host, command) for name, host in found.items()}


def inventory(
    path: Path,
    found: dict[str, testhosts.Host],
    managers: list[str],
    workers: list[str],
    group_vars: dict | None = None,
    host_vars: dict | None = None,
) -> Path:
    """A swarm inventory as the sample nests it: `swarm` with children swarm_managers/swarm_workers."""

    def entry(name: str) -> dict:
        host = found[name]
        data = {
            "ansible_host": host.address,
            "ansible_port": host.port,
            "ansible_user": host.user,
            "ansible_ssh_private_key_file": host.identity_file,
            "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no",
        }
        if host.become:
            data["ansible_become"] = True
        return {**data, **(host_vars or {}).get(name, {})}

    tree = {
        "all": {
            "children": {
                "swarm": {
                    "vars": dict(group_vars or {}),
                    "children": {
                        "swarm_managers": {"hosts": {name: entry(name) for name in managers}},
                        "swarm_workers": {"hosts": {name: entry(name) for name in workers}},
                    },
                }
            }
        }
    }
    path.write_text(yaml.safe_dump(tree))
    return path


def run_playbook(
    playbook: str, inventory_path: Path, env: dict, *extra: str, label: str = ""
) -> subprocess.CompletedProcess:
    """ansible-playbook from the clone (its ansible.cfg); prints the wall time for the CI budget."""
    started = time.monotonic()
    result = subprocess.run(
        ["ansible-playbook", "-i", str(inventory_path), f"playbooks/{playbook}", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(
        f"\n[{label or playbook}] {playbook} {' '.join(extra)}: rc {result.returncode}, "
        f"{time.monotonic() - started:.0f}s"
    )
    return result


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host: {host: {"ok": n, "changed": n, "failed": n, ...}}."""
    counts = {}
    for line in output.split("PLAY RECAP", 1)[-1].splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if match:
            counts[match.group(1)] = {
                key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(2))
            }
    return counts
