"""The failure paths of the rolling jobs other than the upgrade's own flow, on one real swarm.

Three Debian 12 managers form a swarm with playbooks/site.yml (busybox loaded on every node; no
IPVS here, so every service uses endpoint_mode dnsrr). The tests share it, in this order:

1. a release whose third service names a missing secret changes no service at all (the dry run
   is strict about references), every service's UpdatedAt unchanged;
2. a first "run" takes the cluster lock and exits: rollout.yml, remove_node.yml and reset.yml
   each refuse naming the holder, and site.yml refuses an availability change, all changing
   nothing (that a converged re-run needs no lock is unit-tested: swarm_nodes.locked_refusal);
3. with the lock still held and the first manager's engine stopped, status.yml answers from the
   second manager, names the first and why, and shows the holder; the engine is restored;
4. remove_node.yml of a manager whose task is pinned to it by a placement constraint: the drain
   times out, the node is still a manager (drained), the message says so, the lock is released;
5. the upgrade plan (--check) refuses that pinned service and accepts it with
   flotilla_upgrade_allow_unmovable_services=true.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hostsnap import run_playbook

from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts.aptcache import ensure_apt_cache
from flotilla.testhosts.swarm_fixture import exec_in, form_swarm
from flotilla.testhosts.swarm_fixture import run_playbook as run_any_playbook

OWNER = "h2-guards"
M1, M2, M3 = (f"{OWNER}-m{i}" for i in (1, 2, 3))
SERVICES = ["h2a", "h2b", "h2c"]
PINNED = "h2pin"
FIRST_RUN_PURPOSE = "h2 first run"
# A task file that only takes the lock: the "first run" that holds it while the others start.
TAKE_LOCK = f"""\
- name: Take the cluster lock as a first run would, and exit holding it
  hosts: swarm_managers[0]
  gather_facts: false
  tasks:
    - name: Take the lock
      flotilla.cluster.swarm_lock:
        state: present
        purpose: {FIRST_RUN_PURPOSE}
"""


@pytest.fixture(scope="module")
def swarm(engine, built_images, tool_env, tmp_path_factory):
    testhosts.down(engine, OWNER, log=lambda _line: None)
    started = time.monotonic()
    try:
        formed = form_swarm(
            engine,
            OWNER,
            tmp_path_factory.mktemp("h2-guards"),
            Path(built_images["busybox"]),
            managers=3,
            workers=0,
            apt_port=ensure_apt_cache(),
            env=tool_env,
            log=lambda _line: None,
        )
        print(f"\n[h2-guards] swarm of 3 managers formed in {time.monotonic() - started:.0f}s")
        yield formed
    finally:
        testhosts.down(engine, OWNER, log=lambda _line: None)


def _host(swarm, name):
    return next(h for h in swarm.nodes if h.name == name)


def _sh(engine, swarm, command, on=M2, timeout=60):
    return exec_in(engine, _host(swarm, on), command, timeout)


def _words(result) -> str:
    # the YAML callback wraps long messages: compare words, not line breaks
    return " ".join((result.stdout + result.stderr).split())


def _updated_at(engine, swarm) -> dict[str, str]:
    names = " ".join(SERVICES)
    out = _sh(
        engine, swarm, f"docker service inspect --format '{{{{.Spec.Name}}}} {{{{.UpdatedAt}}}}' {names}"
    )
    return dict(line.split(" ", 1) for line in out.splitlines())


def _nodes(engine, swarm) -> str:
    return _sh(
        engine, swarm, "docker node ls --format '{{.Hostname}} {{.Availability}} {{.ManagerStatus}}' | sort"
    )


def _lock_configs(engine, swarm) -> str:
    return _sh(engine, swarm, "docker config ls --filter name=flotilla-lock --format '{{.Name}}'")


def _release(swarm, env, services):
    release = {
        "flotilla_rollout_services": [
            {
                "name": name,
                "image": "flotilla/busybox:latest",
                "image_resolution": "local",
                "env": {"RELEASE": "2"},
                "timeout": 60,
                **({"secrets": [{"name": "h2-missing-secret"}]} if name == "h2c" else {}),
            }
            for name in services
        ]
    }
    return run_playbook("rollout.yml", swarm.inventory, env, "-e", json.dumps(release), label="h2-guards")


@pytest.fixture(scope="module")
def services(engine, swarm):
    _sh(engine, swarm, f"docker service rm {' '.join(SERVICES)} {PINNED} >/dev/null 2>&1 || true", on=M1)
    for name in SERVICES:
        _sh(
            engine,
            swarm,
            f"docker service create --detach --name {name} --replicas 1 --endpoint-mode dnsrr "
            f"--env RELEASE=1 flotilla/busybox:latest sleep 86400 >/dev/null",
            on=M1,
        )
    return _updated_at(engine, swarm)


def test_a_release_with_a_missing_secret_changes_no_service(engine, swarm, services, tool_env):
    result = _release(swarm, tool_env, SERVICES)
    words = _words(result)
    assert result.returncode != 0, words[-4000:]
    assert "h2c: secret(s) not found: h2-missing-secret" in words, words[-4000:]
    # the dry run stopped it: no service rolled, not even the two before it
    assert _updated_at(engine, swarm) == services
    assert "Roll out each service" not in words


@pytest.fixture(scope="module")
def lock_held(engine, swarm, services, tool_env, tmp_path_factory):
    playbook = tmp_path_factory.mktemp("h2-lock") / "take_lock.yml"
    playbook.write_text(TAKE_LOCK)
    taken = run_any_playbook(str(playbook), swarm.inventory, tool_env, timeout=120)
    assert taken.returncode == 0, _words(taken)[-3000:]
    assert _lock_configs(engine, swarm) == "flotilla-lock"
    yield
    _sh(engine, swarm, "docker config rm flotilla-lock >/dev/null 2>&1 || true")


def test_rolling_jobs_refuse_while_another_run_holds_the_lock(engine, swarm, services, lock_held, tool_env):
    nodes_before = _nodes(engine, swarm)
    jobs = {
        "rollout": lambda: _release(swarm, tool_env, SERVICES[:2]),
        "remove_node": lambda: run_playbook(
            "remove_node.yml", swarm.inventory, tool_env, "-e", f"swarm_remove_node={M3}", label="h2-guards"
        ),
        "reset": lambda: run_playbook(
            "reset.yml", swarm.inventory, tool_env, "-e", "flotilla_confirm_reset=true", label="h2-guards"
        ),
        "site, a change": lambda: run_playbook(
            "site.yml", swarm.inventory, tool_env, "-e", "swarm_availability=pause", label="h2-guards"
        ),
    }
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = dict(zip(jobs, pool.map(lambda job: job(), jobs.values()), strict=True))

    for job in ("rollout", "remove_node", "reset", "site, a change"):
        words = _words(results[job])
        assert results[job].returncode != 0, f"{job} went ahead: {words[-3000:]}"
        assert "holds the cluster lock" in words or "held by" in words, f"{job}: {words[-3000:]}"
        assert FIRST_RUN_PURPOSE in words, f"{job} does not name the holder: {words[-3000:]}"
    assert "Nodes' roles, availability and labels are not changed" in _words(results["site, a change"])
    # nothing changed: nodes, services, the swarm itself, and the first run still holds its lock
    assert _nodes(engine, swarm) == nodes_before
    assert _updated_at(engine, swarm) == services
    assert _lock_configs(engine, swarm) == "flotilla-lock"


def test_status_answers_from_the_second_manager_and_shows_the_holder(
    engine, swarm, lock_held, tool_env, tmp_path
):
    output = tmp_path / "status.json"
    _sh(engine, swarm, "systemctl stop docker docker.socket", on=M1)
    try:
        result = run_playbook(
            "status.yml",
            swarm.inventory,
            tool_env,
            "-e",
            f"flotilla_status_output={output}",
            label="h2-guards",
        )
    finally:
        _sh(engine, swarm, "systemctl start docker.socket docker", on=M1, timeout=90)
        # the lock's last user: the tests after this one run without it
        _sh(engine, swarm, "docker config rm flotilla-lock >/dev/null")
    words = _words(result)
    assert result.returncode == 0, words[-4000:]
    assert f"not answering: {M1}: its engine did not answer as a manager" in words, words[-4000:]
    assert "lock: the cluster lock is held by" in words and FIRST_RUN_PURPOSE in words, words[-4000:]
    report = json.loads(output.read_text())
    assert report["read_from"] == M2
    assert report["status"]["lock"]["holder"]["purpose"] == FIRST_RUN_PURPOSE
    assert list(report["status"]["unanswered"]) == [M1]
    _wait_ready(engine, swarm)


def _wait_ready(engine, swarm, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        listing = _nodes(engine, swarm)
        if listing.count(" Active ") == 3 and "Down" not in listing and "Unreachable" not in listing:
            return
        assert time.monotonic() < deadline, f"the nodes did not come back: {listing}"
        time.sleep(2)


@pytest.fixture(scope="module")
def pinned(engine, swarm):
    _sh(
        engine,
        swarm,
        f"docker service create --detach --name {PINNED} --replicas 1 --endpoint-mode dnsrr "
        f"--constraint node.hostname=={M3} flotilla/busybox:latest sleep 86400 >/dev/null",
    )
    deadline = time.monotonic() + 60
    while "Running" not in _sh(engine, swarm, f"docker service ps {PINNED} --format '{{{{.CurrentState}}}}'"):
        assert time.monotonic() < deadline, "the pinned service did not start"
        time.sleep(1)


def test_remove_node_whose_drain_cannot_finish_leaves_a_manager(engine, swarm, pinned, tool_env):
    assert _lock_configs(engine, swarm) == ""
    result = run_playbook(
        "remove_node.yml",
        swarm.inventory,
        tool_env,
        "-e",
        json.dumps({"swarm_remove_node": M3, "swarm_drain_timeout": 8}),
        label="h2-guards",
    )
    words = _words(result)
    try:
        assert result.returncode != 0, words[-4000:]
        assert "drain not complete after" in words, words[-4000:]
        assert f"{M3} is left DRAINED and is still a MANAGER (it was not demoted)" in words, words[-4000:]
        listing = _nodes(engine, swarm)
        # still a manager: Reachable, or Leader if leadership moved to it meanwhile
        assert re.search(rf"^{M3} Drain (Reachable|Leader)$", listing, re.M), listing
        assert _lock_configs(engine, swarm) == "", "the lock was not released after the failure"
    finally:
        _sh(engine, swarm, f"docker node update --availability active {M3} >/dev/null")


def _plan(swarm, env, *extra):
    settings = {"docker_daemon_log_opts": {"max-size": "20m", "max-file": "3"}}
    return run_playbook(
        "upgrade.yml", swarm.inventory, env, "--check", "-e", json.dumps(settings), *extra, label="h2-guards"
    )


def test_upgrade_plan_refuses_a_service_pinned_to_one_node_unless_accepted(engine, swarm, pinned, tool_env):
    with ThreadPoolExecutor(max_workers=2) as pool:
        refused, accepted = pool.map(
            lambda extra: _plan(swarm, tool_env, *extra),
            [(), ("-e", "flotilla_upgrade_allow_unmovable_services=true")],
        )
    words = _words(refused)
    assert refused.returncode != 0, words[-4000:]
    assert f"service {PINNED} (1 replica(s)) cannot run them all while {M3} is drained" in words, words[
        -4000:
    ]
    assert "flotilla_upgrade_allow_unmovable_services=true" in words
    words = _words(accepted)
    assert accepted.returncode == 0, words[-4000:]
    assert f"warning: service {PINNED} (1 replica(s)) cannot run them all" in words, words[-4000:]
    # a plan changes nothing
    listing = _nodes(engine, swarm)
    assert re.search(rf"^{M3} Active (Reachable|Leader)$", listing, re.M), listing
