"""The local lab: N test hosts on a private network, an inventory for them, and a provisioning run.

Test-only plumbing. The lab writes an ordinary inventory (inventories/lab/hosts.yml) and runs the
same playbooks an operator runs by hand; `ansible-playbook -i inventories/lab playbooks/site.yml`
does exactly what `flotilla lab up` does after the hosts exist.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TextIO

import yaml

from flotilla.engine import ensure_engine
from flotilla.runner import print_summary, project_root, run_playbook
from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts.aptcache import ensure_apt_cache
from flotilla.testhosts.images import SUITES, build_host_image


def lab_name() -> str:
    """FLOTILLA_LAB_NAME (default `lab`) names the lab's hosts, network, key and inventory folder,
    so a test can run a lab of its own beside an operator's."""
    return os.environ.get("FLOTILLA_LAB_NAME", "lab")


def inventory_path() -> Path:
    return project_root() / "inventories" / lab_name() / "hosts.yml"


def host_specs(count: int, managers: int, os_name: str, python: bool, login: str) -> list[dict]:
    if count < 1:
        raise ValueError("--hosts must be at least 1")
    if not 1 <= managers <= count:
        raise ValueError(f"--managers must be between 1 and --hosts ({count}); got {managers}")
    if os_name not in SUITES:
        raise ValueError(f"--os must be one of {', '.join(SUITES)}; got {os_name}")
    return [
        {
            "name": f"flotilla-{lab_name()}-{index}",
            "os": os_name,
            "python": python,
            "login": login,
            "labels": {"group": "swarm_managers" if index <= managers else "swarm_workers"},
        }
        for index in range(1, count + 1)
    ]


def write_inventory(found: list[testhosts.Host], path: Path) -> None:
    """An ordinary YAML inventory: the groups of inventories/sample, addresses of the lab hosts."""
    groups: dict[str, dict] = {"swarm_managers": {"hosts": {}}, "swarm_workers": {"hosts": {}}}
    for host in found:
        entry = {"ansible_host": host.address, "ansible_user": host.user}
        if host.become:
            entry["ansible_become"] = True
        groups[host.labels.get("group", "swarm_workers")]["hosts"][host.name] = entry
    identity = found[0].identity_file if found else ""
    inventory = {
        "all": {
            "vars": {
                "ansible_ssh_private_key_file": identity,
                # lab hosts are recreated with new host keys: do not pin them
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            },
            "children": {
                "swarm": {"children": {name: body for name, body in groups.items() if body["hosts"]}}
            },
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "---\n# Written by `flotilla lab up`; removed by `flotilla lab down`.\n" + yaml.safe_dump(inventory)
    )


def up(
    count: int = 3,
    managers: int = 1,
    os_name: str = "debian12",
    python: bool = True,
    login: str = "sudo",
    provision: bool = True,
    out: TextIO = sys.stdout,
) -> int:
    specs = host_specs(count, managers, os_name, python, login)

    def log(line: str) -> None:
        out.write(f"lab: {line}\n")
        out.flush()

    client = ensure_engine()
    apt_port = ensure_apt_cache()
    cache = f"127.0.0.1:{apt_port}" if apt_port else "none (apt-cacher-ng is not installed)"
    log(f"package cache: {cache}")
    build_host_image(client, os_name, python=python, apt_port=apt_port, log=log)
    found = testhosts.up(client, lab_name(), specs, apt_port=apt_port, log=log)
    path = inventory_path()
    write_inventory(found, path)
    log(f"{len(found)} hosts up; inventory written to {path}")
    if not provision:
        return 0
    log("provisioning with playbooks/site.yml")
    result = run_playbook("site.yml", path, out=out)
    print_summary(result, out)
    if result.ok:
        print_node_table(next(host for host in found if host.labels.get("group") == "swarm_managers"), out)
    return result.rc


def print_node_table(manager: testhosts.Host, out: TextIO) -> None:
    """The Swarm as the first manager sees it (`docker node ls`), over the same SSH access."""
    try:
        table = testhosts.ssh(manager, "docker node ls")
    except subprocess.CalledProcessError as failed:
        table = (failed.stdout or failed.stderr).strip()
    out.write(f"\nnodes, as {manager.name} sees them:\n{table}\n")


def status(out: TextIO = sys.stdout) -> int:
    client = ensure_engine(start=False)
    containers = client.containers.list(all=True, filters={"label": f"{testhosts.OWNER_LABEL}={lab_name()}"})
    if not containers:
        out.write("lab: no hosts (run `flotilla lab up`)\n")
        return 0
    out.write(f"{'host':<20}{'state':<10}{'address':<16}group\n")
    for container in sorted(containers, key=lambda c: c.name):
        networks = container.attrs["NetworkSettings"]["Networks"]
        address = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), "-")
        group = container.labels.get(f"{testhosts.ROLE_LABEL}.group", "-")
        out.write(f"{container.name:<20}{container.status:<10}{address:<16}{group}\n")
    return 0


def down(out: TextIO = sys.stdout) -> int:
    client = ensure_engine(start=False)
    removed = testhosts.down(client, lab_name(), log=lambda line: out.write(f"lab: {line}\n"))
    inventory_path().unlink(missing_ok=True)
    key_dir = testhosts.state_dir(lab_name())
    for leftover in key_dir.iterdir():
        leftover.unlink()
    key_dir.rmdir()
    out.write(f"lab: removed {removed} hosts, their network, volumes and key\n")
    return 0
