"""inventories/cloud/constructed.yml maps cloud tags to flotilla's groups (no hosts needed).

The cloud side is a static stand-in (tests/unit/inventories/cloud_standin.yml) shaped like a
dynamic inventory plugin's output: hosts with `tags` or `labels` host variables.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests/unit/inventories/cloud_standin.yml"
CONSTRUCTED = ROOT / "inventories/cloud/constructed.yml"


def _inventory(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-inventory"),
            "-i",
            str(STANDIN),
            "-i",
            str(CONSTRUCTED),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


def test_tags_and_labels_become_flotillas_groups():
    listing = json.loads(_inventory("--list").stdout)
    assert sorted(listing["swarm_managers"]["hosts"]) == ["ec2-manager-a", "ec2-manager-b", "gce-manager-c"]
    assert sorted(listing["swarm_workers"]["hosts"]) == ["ec2-worker-a", "hcloud-worker-b"]
    assert sorted(listing["swarm"]["hosts"]) == sorted(
        listing["swarm_managers"]["hosts"] + listing["swarm_workers"]["hosts"]
    )
    # untagged hosts and other roles stay out of every flotilla group
    for host in ("ec2-bastion", "ec2-other-role"):
        assert all(
            host not in listing[group].get("hosts", [])
            for group in ("swarm", "swarm_managers", "swarm_workers")
        )
    hostvars = listing["_meta"]["hostvars"]
    assert hostvars["hcloud-worker-b"]["flotilla_cloud_role"] == "worker"
    assert hostvars["ec2-manager-a"]["ansible_host"] == "192.0.2.31"


def test_graph_shows_the_groups():
    graph = _inventory("--graph").stdout
    assert "@swarm_managers:" in graph and "@swarm_workers:" in graph
