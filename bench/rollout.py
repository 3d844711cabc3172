"""Benchmark: a rolling service update under load, through playbooks/rollout.yml. Prints figures.

    .venv/bin/python bench/rollout.py [--parallelism 1] [--delay 1] [--monitor 5] [--keep]

A swarm of 1 manager + N workers (Debian 12 test hosts, formed by playbooks/site.yml) runs the
test web service (flotilla.testhosts.rollout_app) with one task per node, published in host mode
behind haproxy on its own test host. The service is put on v1, then rolled to v2 while 4 clients
send requests through haproxy; the run prints the requests sent, their rate and the failed ones
(the target is 0), the rollout time next to its floor, and where each batch's time went, from the
engine's own task timestamps. It is a benchmark, not a test: it never fails on slow figures,
only when the rollout itself fails. Traffic goes only to the lab's own test hosts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from flotilla.engine import ensure_engine
from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts import rollout_app, rollout_lab, swarm_fixture
from flotilla.testhosts.aptcache import ensure_apt_cache
from flotilla.testhosts.images import build_busybox_image


def _when(stamp: str) -> float:
    """An engine timestamp (RFC 3339 with nanoseconds) as seconds since the epoch."""
    head, _, rest = stamp.rstrip("Z").partition(".")
    fraction = float("0." + "".join(ch for ch in rest if ch.isdigit())[:6] or "0")
    return datetime.fromisoformat(head + "+00:00").timestamp() + fraction


def batch_timings(lab: rollout_lab.Lab, since: float, version: str) -> list[dict]:
    """Per slot: how long the old task took to stop and the new one to run, from the task records."""
    raw = swarm_fixture.exec_in(
        lab.client,
        lab.swarm.manager,
        f"docker inspect $(docker service ps -q {rollout_lab.SERVICE})",
        30,
    )
    tasks = json.loads(raw)
    wanted = rollout_app.image(version)
    rows = []
    for new in tasks:
        if not new["Spec"]["ContainerSpec"]["Image"].startswith(wanted) or _when(new["CreatedAt"]) < since:
            continue
        created = _when(new["CreatedAt"])
        olds = [
            t
            for t in tasks
            if t["Slot"] == new["Slot"]
            and t["ID"] != new["ID"]
            and _when(t["CreatedAt"]) < created
            and t["DesiredState"] == "shutdown"
        ]
        stopped = max((_when(t["Status"]["Timestamp"]) for t in olds), default=created)
        running = _when(new["Status"]["Timestamp"]) if new["Status"]["State"] == "running" else float("nan")
        rows.append(
            {"slot": new["Slot"], "created": created, "stop": stopped - created, "start": running - stopped}
        )
    rows.sort(key=lambda row: row["created"])
    for before, after in zip(rows, rows[1:], strict=False):
        before["gap"] = after["created"] - (before["created"] + before["stop"] + before["start"])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--owner", default="bench-rollout", help="test-host owner label (default bench-rollout)"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker nodes besides the manager (default 2)")
    parser.add_argument("--parallelism", type=int, default=1, help="update_config.parallelism (default 1)")
    parser.add_argument("--delay", type=float, default=1.0, help="update_config.delay, seconds (default 1)")
    parser.add_argument(
        "--monitor", type=float, default=5.0, help="update_config.monitor, seconds (default 5)"
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (default 4)")
    parser.add_argument(
        "--drain",
        type=float,
        default=rollout_app.DRAIN_SECONDS,
        help="seconds a stopping task keeps serving after failing /health (default "
        f"{rollout_app.DRAIN_SECONDS}; 0 shows the failures a stop-first rollout has without it)",
    )
    parser.add_argument("--keep", action="store_true", help="leave the lab up; the next run reuses it")
    args = parser.parse_args(argv)

    client = ensure_engine()
    apt_port = ensure_apt_cache()
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="flotilla-bench-") as scratch:
            busybox = build_busybox_image(client, apt_port, log=lambda line: print(line, file=sys.stderr))
            lab = rollout_lab.start(
                client, args.owner, Path(scratch), busybox, apt_port, workers=args.workers, drain=args.drain
            )
            setup = ", ".join(f"{key} {value:.0f}s" for key, value in lab.seconds.items())
            ready = time.monotonic() - started
            print(f"lab: {len(lab.swarm.nodes)} nodes behind haproxy, ready in {ready:.0f}s ({setup})")
            options = rollout_app.service_options(
                rollout_lab.SERVICE,
                "v2",
                replicas=len(lab.swarm.nodes),
                drain=args.drain,
                parallelism=args.parallelism,
                delay=f"{args.delay:g}s",
                monitor=f"{args.monitor:g}s",
            )
            rollout_lab.wait_backends_up(lab)
            since = time.time() - 1
            run = rollout_lab.rollout_under_load(lab, [options], workers=args.clients, max_seconds=600)
            result = run.result()
            floor = rollout_app.rollout_floor(options)
            print(f"rollout v1 -> v2: playbook rc {run.returncode}, verdict {result.get('verdict')}")
            print(
                f"quick-page requests: {run.load.sent} sent in {run.load.seconds:.1f}s, "
                f"{run.load.rate:.1f}/s, {run.load.failed} failed (target 0)"
            )
            for failure in run.load.failures[:10]:
                print(f"  failed at +{failure.at:.1f}s: {failure.error}")
            print(
                f"slow-page requests ({rollout_app.SLOW_SECONDS:g}s each, always some in flight): "
                f"{run.slow.sent} sent, {run.slow.rate:.1f}/s, {run.slow.failed} failed (target 0)"
            )
            for failure in run.slow.failures[:10]:
                print(f"  failed at +{failure.at:.1f}s: {failure.error}")
            print(f"pages seen: {run.pages_summary()}")
            elapsed = float(result.get("elapsed") or 0)
            print(
                f"rollout time: {elapsed:.1f}s in the module ({run.seconds:.1f}s for the whole playbook); "
                f"floor {floor:.1f}s = ceil({options['replicas']}/{args.parallelism}) x "
                f"({args.drain:g}s drain + {rollout_app.HEALTH_INTERVAL}s first health check "
                f"+ {args.delay:g}s delay) + {args.monitor:g}s monitor; {elapsed / floor:.2f}x the floor"
            )
            for row in batch_timings(lab, since, "v2"):
                gap = f", then {row['gap']:.1f}s to the next batch" if "gap" in row else ""
                print(
                    f"  slot {row['slot']}: old task stopped {row['stop']:.1f}s after the new one was "
                    f"created, new one running {row['start']:.1f}s later{gap}"
                )
            return 0 if run.returncode == 0 else 1
    finally:
        if not args.keep:
            testhosts.down(client, args.owner, log=lambda _line: None)


if __name__ == "__main__":
    sys.exit(main())
