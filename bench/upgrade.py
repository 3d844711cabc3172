"""Benchmark: a rolling engine upgrade under load through playbooks/upgrade.yml, and its negative control.

    .venv/bin/python bench/upgrade.py [--workers 2] [--batch 1] [--keep]

A swarm of 1 manager + N workers on Debian 13 test hosts starts on Debian 12's docker.io
20.10.24 (a bookworm apt source and an explicit version, formed by playbooks/site.yml). The test
web service (flotilla.testhosts.rollout_app) runs nodes - 1 replicas, at most one per node, so a
drained node's task has a free node to move to; haproxy on its own test host checks every node.

1. Rolling upgrade: upgrade.yml takes every node to Debian 13's docker.io 26.1.5 (drain and
   wait, upgrade, wait for the running engine to report 26.1.5, reactivate; one node at a time
   by default) while 4 clients send requests through haproxy. Target: 0 failed requests.
2. Negative control: the same kind of disruption without the rolling path. A daemon.json change
   (log max-size) is applied with site.yml and docker_allow_swarm_member_restart=true, so the
   docker role's handler restarts every engine at once, nothing drained. This MUST show failed
   requests; if it does not, the harness cannot see an outage and figure 1 means nothing (the
   script then exits non-zero). The control restarts engines for a config change rather than a
   new version because the lab has only one newer release (26.1.5) and step 1 used it; what
   hurts clients, every engine stopping its containers at the same moment, is the same.

Prints requests, rate and failures for both, upgrade time per node from upgrade.yml's report, and
the engine versions before and after. Traffic goes only to the lab's own test hosts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from flotilla.engine import ensure_engine
from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts import rollout_lab, swarm_fixture
from flotilla.testhosts.aptcache import ensure_apt_cache
from flotilla.testhosts.images import build_busybox_image
from flotilla.testhosts.load import HttpLoad

OLD_VERSION = "20.10.24"
NEW_VERSION = "26.1.5"

# Test-host only: Debian 12's archive for the old engine on Debian 13 hosts. (The workaround for
# Docker 26 and the read-only /proc/sys of test hosts comes with the test-host images.)
PREPARE = """\
cat > /etc/apt/sources.list.d/bookworm.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
"""


def engine_versions(lab: rollout_lab.Lab) -> dict[str, str]:
    return {
        host.name: swarm_fixture.exec_in(
            lab.client, host, "docker version --format '{{.Server.Version}}'", 30
        )
        for host in lab.swarm.nodes
    }


def under_load(lab: rollout_lab.Lab, clients: int, run) -> tuple[object, object, float]:
    """Run `run()` while clients hit haproxy; return its value, the load report and the seconds."""
    load = HttpLoad(lab.address, lab.port, workers=clients, max_seconds=1800, timeout=3.0).start()
    started = time.monotonic()
    try:
        value = run()
    finally:
        figures = load.stop()
    return value, figures, time.monotonic() - started


def print_load(label: str, figures) -> None:
    rate = f"{figures.rate:.1f}/s"
    print(f"{label}: {figures.sent} requests in {figures.seconds:.1f}s, {rate}, {figures.failed} failed")
    if figures.failures:
        first, last = figures.failures[0].at, figures.failures[-1].at
        kinds = sorted({failure.error.split(":")[0] for failure in figures.failures})
        print(
            f"  failures from +{first:.1f}s to +{last:.1f}s ({last - first:.1f}s window): {', '.join(kinds)}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--owner", default="bench-upgrade", help="test-host owner label (default bench-upgrade)"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker nodes besides the manager (default 2)")
    parser.add_argument("--batch", default="1", help="flotilla_upgrade_batch for the workers (default 1)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (default 4)")
    parser.add_argument(
        "--keep", action="store_true", help="leave the lab up (a second run has nothing to upgrade)"
    )
    args = parser.parse_args(argv)

    client = ensure_engine()
    apt_port = ensure_apt_cache()
    started = time.monotonic()

    def prepare(nodes):
        for node in nodes:
            swarm_fixture.exec_in(client, node, PREPARE, 30)

    try:
        with tempfile.TemporaryDirectory(prefix="flotilla-bench-") as scratch:
            busybox = build_busybox_image(client, apt_port, log=lambda line: print(line, file=sys.stderr))
            nodes = 1 + args.workers
            lab = rollout_lab.start(
                client,
                args.owner,
                Path(scratch),
                busybox,
                apt_port,
                workers=args.workers,
                os_name="debian13",
                replicas=nodes - 1,
                swarm_vars={"docker_version": OLD_VERSION},
                before_site=prepare,
            )
            print(f"lab: {nodes} nodes behind haproxy, ready in {time.monotonic() - started:.0f}s")
            before = engine_versions(lab)
            print(f"engines before: {before}")
            rollout_lab.wait_backends_up(lab, expected=nodes - 1)

            reports = Path(scratch) / "reports"
            upgrade_vars = {
                "docker_version": NEW_VERSION,
                "flotilla_upgrade_batch": args.batch,
                "flotilla_upgrade_allow_single_manager": True,
                "flotilla_upgrade_report_dir": str(reports),
            }
            upgrade, figures, seconds = under_load(
                lab,
                args.clients,
                lambda: swarm_fixture.run_playbook(
                    "playbooks/upgrade.yml",
                    lab.swarm.inventory,
                    lab.env,
                    "-e",
                    json.dumps(upgrade_vars),
                    timeout=1800,
                ),
            )
            versions = f"{OLD_VERSION} -> {NEW_VERSION}"
            print(f"rolling upgrade {versions}: upgrade.yml rc {upgrade.returncode} in {seconds:.0f}s")
            print_load("  requests during the rolling upgrade (target 0 failed)", figures)
            for report in sorted(reports.glob("upgrade-*.json")):
                data = json.loads(report.read_text())
                for name, node in data.get("nodes", {}).items():
                    print(
                        f"  {name}: {node.get('outcome')} {node.get('version_before')} -> "
                        f"{node.get('version_after')}"
                        f" in {node.get('duration_seconds')}s (drain {node.get('drain_seconds')}s,"
                        f" ready {node.get('ready_seconds')}s)"
                    )
            after = engine_versions(lab)
            print(f"engines after: {after}")
            if upgrade.returncode != 0:
                print(upgrade.stdout[-6000:], upgrade.stderr[-2000:], sep="\n")
                return 1

            rollout_lab.wait_backends_up(lab, timeout=120, expected=nodes - 1)
            control_vars = {
                "docker_version": NEW_VERSION,
                "docker_daemon_log_opts": {"max-size": "20m", "max-file": "3"},
                "docker_allow_swarm_member_restart": True,
            }
            control, figures, seconds = under_load(
                lab,
                args.clients,
                lambda: swarm_fixture.run_playbook(
                    "playbooks/site.yml",
                    lab.swarm.inventory,
                    lab.env,
                    "-e",
                    json.dumps(control_vars),
                    timeout=900,
                ),
            )
            print(
                "negative control (every engine restarted at once, no drain): "
                f"site.yml rc {control.returncode} in {seconds:.0f}s"
            )
            print_load("  requests during the control (MUST show failures)", figures)
            if figures.failed == 0:
                print("the negative control lost no request: the harness cannot see an outage here")
                return 1
            return 0
    finally:
        if not args.keep:
            testhosts.down(client, args.owner, log=lambda _line: None)


if __name__ == "__main__":
    sys.exit(main())
