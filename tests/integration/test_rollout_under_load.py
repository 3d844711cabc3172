"""playbooks/rollout.yml on a real 3-node swarm behind a real haproxy, with load running throughout.

The swarm (1 manager + 2 workers, Debian 12) is formed by playbooks/site.yml; haproxy on a fourth
test host health-checks GET /health on port 8000 of every node every 500 ms. The service is
rollout_app's busybox httpd, 3 replicas with at most one per node, published in host mode (no
IPVS here, so no routing mesh) with a HEALTHCHECK. During every rollout HttpLoad hits haproxy
with 4 clients on the quick page and 2 on a page that takes 0.5 s, so requests are always in
flight on the task being stopped.

Why stop-first: a host-mode port can be held by one task per node, so a start-first update on
the same node can never start its new task. Stop-first with parallelism 1 takes one node out at a
time, and what keeps every request whole is the container draining on SIGTERM: it fails the
balancer's check first, keeps serving while haproxy notices (about 1 s), then exits after 3 s,
inside the engine's 10 s stop grace period (see flotilla.testhosts.rollout_app). The new task
counts as started only when its HEALTHCHECK passes, and haproxy sends it traffic only after two
good checks. Without the drain the same rollout lost requests (502 for requests in flight, 503
for a moment with no server in rotation: bench/rollout.py --drain 0); the assertion stays at 0.

Cases, each from a service on the previous case's version:
  a. v1 -> v2: converges, no request fails;
  b. v2 -> broken with failure_action rollback: the engine rolls back; the playbook fails, the
     module reports rolled_back, the service runs v2 again, and no request fails;
  c. v2 -> broken with failure_action pause and a placement constraint no node meets: the task
     stays pending, so the module's own timeout fires and its server-side rollback restores v2.
     The rollback's v2 task waits about 60 s before it starts: swarmkit's restart supervisor
     waits up to a minute for the replaced task to stop, and a task that was never placed never
     reports stopped. rollback_timeout (120 s) covers it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts import rollout_app, rollout_lab
from flotilla.testhosts.aptcache import ensure_apt_cache

OWNER = "pytest-rollout-load"
SERVICE = rollout_lab.SERVICE
NOWHERE = "node.labels.org.flotilla.test.nowhere==true"


@pytest.fixture(scope="module")
def lab(engine, built_images, tool_env, tmp_path_factory):
    started = time.monotonic()
    # an interrupted earlier run may have left this owner's hosts: start clean
    testhosts.down(engine, OWNER, log=lambda _line: None)
    try:
        found = rollout_lab.start(
            engine,
            OWNER,
            tmp_path_factory.mktemp("rollout-lab"),
            Path(built_images["busybox"]),
            ensure_apt_cache(),
            env=tool_env,
            log=lambda line: print(f"[rollout-load] {line}"),
        )
        timings = ", ".join(f"{key} {value:.0f}s" for key, value in found.seconds.items())
        print(f"\n[rollout-load] lab ready in {time.monotonic() - started:.0f}s ({timings})")
        yield found
    finally:
        testhosts.down(engine, OWNER, log=lambda _line: None)


def _rollout(lab, case: str, options: dict) -> rollout_lab.RolloutRun:
    rollout_lab.wait_backends_up(lab)
    run = rollout_lab.rollout_under_load(lab, [options], max_seconds=300)
    print(f"\n[rollout-load] case {case}: playbook rc {run.returncode} in {run.seconds:.1f}s")
    print(f"[rollout-load] case {case}: quick-page load {run.load.summary()}")
    print(f"[rollout-load] case {case}: slow-page load {run.slow.summary()}")
    print(f"[rollout-load] case {case}: pages seen {run.pages_summary()}")
    print(f"[rollout-load] case {case}: report\n{run.report}")
    for failure in (run.load.failures + run.slow.failures)[:10]:
        print(f"[rollout-load] case {case}: failed request at +{failure.at:.1f}s: {failure.error}")
    return run


def _assert_runs(lab, case: str, run: rollout_lab.RolloutRun, version: str) -> dict:
    """The service runs `version` in every slot the moment the playbook returns (no waiting here)."""
    state = rollout_lab.service_state(lab)
    assert state["image"].startswith(rollout_app.image(version)), state
    assert state["image_id"] == lab.image_ids[rollout_app.image(version)], state
    assert len(state["running"]) == len(lab.swarm.nodes), state
    assert all(rollout_app.image(version) in line for line in state["running"]), state
    # the module's own per-slot report agrees with the engine
    rows = run.result()["tasks"]
    assert len(rows) == len(lab.swarm.nodes), rows
    assert all(
        row["state"] == "running" and row["up_to_date"] and rollout_app.image(version) in row["image"]
        for row in rows
    ), rows
    pages = {rollout_lab.page(lab) for _ in range(12)}
    assert pages == {rollout_app.page(version)}, f"haproxy serves {pages}, expected only {version}"
    return state


def _assert_no_failed_request(run: rollout_lab.RolloutRun) -> None:
    # enough requests to mean something: 4 quick and 2 slow clients for the whole rollout
    assert run.load.sent >= 100, run.load.summary()
    assert run.slow.sent >= 20, run.slow.summary()
    for figures in (run.load, run.slow):
        failures = "\n".join(f"+{f.at:.1f}s {f.error}" for f in figures.failures[:20])
        assert figures.failed == 0, f"{figures.summary()}\n{failures}"


def test_a_v1_to_v2_without_a_failed_request(lab):
    options = rollout_app.service_options(SERVICE, "v2", replicas=len(lab.swarm.nodes))
    run = _rollout(lab, "a", options)
    assert run.returncode == 0, run.output[-6000:]
    result = run.result()
    assert result["rolled_back"] is False
    assert result["verdict"] == "converged"
    assert rollout_app.image("v1") in result["image_before"]
    assert rollout_app.image("v2") in result["image_after"]
    floor = rollout_app.rollout_floor(options)
    print(f"[rollout-load] case a: module elapsed {result['elapsed']:.1f}s, floor {floor:.1f}s")
    assert result["elapsed"] >= floor * 0.8, "faster than the floor: were the tasks really replaced?"
    seen = run.pages_seen()
    assert set(seen) == {rollout_app.page("v1"), rollout_app.page("v2")}, seen
    assert seen[rollout_app.page("v2")][2] > seen[rollout_app.page("v1")][2], "v1 still served at the end"
    assert run.plan.startswith(f"{SERVICE}: would be updated: "), run.plan
    assert "image" in run.plan.split(": ", 2)[2].split(", "), run.plan
    _assert_no_failed_request(run)
    _assert_runs(lab, "a", run, "v2")


def test_b_broken_release_rolled_back_by_the_engine(lab):
    replicas = len(lab.swarm.nodes)
    options = rollout_app.service_options(SERVICE, "broken", replicas=replicas, failure_action="rollback")
    run = _rollout(lab, "b", options)
    assert run.returncode != 0, "the playbook must fail when the engine rolled the service back"
    result = run.result()
    assert result.get("failed") is True
    assert result["rolled_back"] is True
    assert result["verdict"] == "rolled_back"
    assert "ROLLED BACK" in run.report
    assert "not yet running the old version" not in result["msg"], result["msg"]
    state = _assert_runs(lab, "b", run, "v2")
    assert state["update_state"] == "rollback_completed"
    _assert_no_failed_request(run)


def test_c_unplaceable_release_rolled_back_by_the_module_timeout(lab):
    replicas = len(lab.swarm.nodes)
    options = rollout_app.service_options(SERVICE, "broken", replicas=replicas, failure_action="pause")
    options["placement"] = {"max_replicas": 1, "constraints": [NOWHERE]}
    # the new task is pending within a second or two: 15 s proves it stuck, not slow
    options["timeout"] = 15
    run = _rollout(lab, "c", options)
    assert run.returncode != 0, "the playbook must fail when the module rolled the service back"
    result = run.result()
    assert result.get("failed") is True
    assert result["verdict"] == "timed_out"
    assert result["rolled_back"] is True
    failing = " ".join(result.get("failing_tasks", []))
    assert "constraint" in failing or "no suitable node" in failing, result
    state = _assert_runs(lab, "c", run, "v2")
    assert state["constraints"] == []
    assert state["update_state"] == "rollback_completed"
    _assert_no_failed_request(run)
