# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""swarm_rollout through main(), against a mocked APIClient and a fake clock.

Each test scripts how the engine's UpdateStatus and tasks evolve and checks what the module
posted (create, update, server-side rollback) and what it reported.
"""

from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils import docker_client
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_service_spec import (
    ENGINE_UPDATE_DEFAULTS,
    IMAGE_ID_LABEL,
)
from ansible_collections.flotilla.cluster.plugins.modules import swarm_rollout
from engine_fakes import NANO, FakeClock, FakeEngine, run_module, service_spec, task

DIGEST_1 = "sha256:" + "1" * 64
DIGEST_2 = "sha256:" + "2" * 64
EXIT_1 = "task: non-zero exit (1)"
PORT_TAKEN = "no suitable node (host-mode port already in use on 1 node)"


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def engine(clock):
    return FakeEngine(clock)


def running_old(n=2, image="app:1"):
    return [task(f"old{i}", slot=i, node_id=f"n{i}", image=image) for i in range(1, n + 1)]


def existing(engine, image=f"app:1@{DIGEST_1}", **spec_kwargs):
    spec = service_spec(image=image, **spec_kwargs)
    engine.add_service(spec, update_state="completed")
    engine.set_tasks(running_old(image=image))
    return spec


def new_tasks_after(engine, since, state="running", err="", n=2, prefix="new", image="app:2"):
    """The old tasks of slots 1..n shut down, new ones in ``state`` (the current spec) in their place.

    The old tasks of the other slots keep running, as with parallelism 1.
    """
    replaced = [t for t in engine.tasks if t["ID"].startswith("old") and t["Slot"] <= n]
    kept = [t for t in engine.tasks if t not in replaced]
    old = [
        dict(t, DesiredState="shutdown", Status={"State": "shutdown", "Err": "", "Message": "shutdown"})
        for t in replaced
    ]
    new = [
        task(f"{prefix}{i}", slot=i, node_id=f"n{i}", state=state, err=err, version=10, image=image)
        for i in range(1, n + 1)
    ]
    engine.set_tasks(kept + old + new, current={t["ID"] for t in new})


def restore_slot_1(engine, since, now, restart_after=5.0, image="app:1"):
    """After a rollback the old-spec tasks are current again, and slot 1, whose new task failed,
    gets its old-spec task from the restart policy: none for a while, then starting, then
    running ``restart_after`` seconds after ``since`` (never, with None).
    """
    tasks = [t for t in engine.tasks if t["ID"] != "back1"]
    waited = now - since
    if waited >= 2:
        running = restart_after is not None and waited >= restart_after
        tasks.append(
            task(
                "back1",
                slot=1,
                node_id="n1",
                state="running" if running else "starting",
                version=20,
                image=image,
            )
        )
    old_spec = {t["ID"] for t in tasks if t["ID"].startswith(("old", "back"))}
    engine.set_tasks(tasks, current=old_spec)


def slots(result):
    return [(row["slot"], row["task_id"], row["state"]) for row in result["tasks"]]


def test_create_sends_engine_defaults_explicitly_and_records_local_image_id(engine, clock, capsys):
    engine.local_images["busybox:latest"] = "sha256:beef"

    def created(eng):
        eng.set_tasks([task("t1", slot=1, image="busybox:latest")])

    engine.on_create = created
    result, failed = run_module(
        swarm_rollout,
        {"name": "web", "image": "busybox:latest", "command": ["sleep", "1d"]},
        engine,
        clock,
        capsys=capsys,
    )

    assert not failed, result["msg"]
    ((path, _params, body),) = engine.posts
    assert path == "/services/create"
    # Never docker-py's UpdateConfig defaults (parallelism 0, failure_action continue).
    assert body["UpdateConfig"] == ENGINE_UPDATE_DEFAULTS
    assert body["RollbackConfig"] == ENGINE_UPDATE_DEFAULTS
    assert body["UpdateConfig"]["Parallelism"] == 1 and body["UpdateConfig"]["FailureAction"] == "pause"
    assert body["Mode"] == {"Replicated": {"Replicas": 1}}
    assert body["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:latest"
    assert body["TaskTemplate"]["ContainerSpec"]["Labels"][IMAGE_ID_LABEL] == "sha256:beef"
    assert body["Labels"][IMAGE_ID_LABEL] == "sha256:beef"
    assert result["changed"] and result["created"]
    assert result["image_resolution"] == "local_image_id"
    assert "no registry digest" in result["image_note"]
    assert result["verdict"] == "converged"
    # Converged only after the 5s monitor of the engine default.
    assert result["elapsed"] >= 5
    assert result["tasks"][0]["state"] == "running"


def test_update_keeps_unset_options_and_sends_only_what_changed(engine, clock, capsys):
    custom = {
        "Parallelism": 2,
        "Delay": 3 * NANO,
        "FailureAction": "rollback",
        "Monitor": 10 * NANO,
        "MaxFailureRatio": 0.25,
        "Order": "start-first",
    }
    spec = existing(
        engine,
        update_config=custom,
        RollbackConfig=dict(custom, FailureAction="continue"),
        Labels={"team": "a"},
    )
    spec["TaskTemplate"]["ContainerSpec"]["Env"] = ["A=1"]
    spec["TaskTemplate"]["Placement"] = {"Constraints": ["node.role==worker"]}
    engine.add_service(spec, update_state="completed")
    engine.digests["app:2"] = DIGEST_2
    engine.on_update = lambda eng: new_tasks_after(eng, 0, image=f"app:2@{DIGEST_2}")

    result, failed = run_module(
        swarm_rollout,
        {"name": "web", "image": "app:2", "update_config": {"delay": "7s"}},
        engine,
        clock,
        diff=True,
        capsys=capsys,
    )

    assert not failed, result["msg"]
    ((path, params, body),) = engine.update_posts()
    assert path == "/services/svc1/update" and params["version"] == 5
    assert body["TaskTemplate"]["ContainerSpec"]["Image"] == f"app:2@{DIGEST_2}"
    assert body["UpdateConfig"] == dict(custom, Delay=7 * NANO)
    assert body["RollbackConfig"] == dict(custom, FailureAction="continue")
    assert body["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=1"]
    assert body["TaskTemplate"]["Placement"] == {"Constraints": ["node.role==worker"]}
    assert body["Labels"] == {"team": "a"}
    assert body["Mode"] == {"Replicated": {"Replicas": 2}}
    assert result["changed_options"] == ["image", "update_config"]
    assert result["image_before"] == f"app:1@{DIGEST_1}" and result["image_after"] == f"app:2@{DIGEST_2}"
    assert result["image_resolution"] == "registry_digest"
    assert result["diff"]["before"]["update_config"]["delay"] == 3 * NANO
    assert result["diff"]["after"]["update_config"]["delay"] == 7 * NANO
    # The service's own 10s monitor is the stability window.
    assert result["elapsed"] >= 10


def test_unchanged_image_and_no_update_status_is_a_no_op(engine, clock, capsys):
    existing(engine)
    engine.set_update(None)  # a service whose spec never changed has no UpdateStatus at all
    engine.digests["app:1"] = DIGEST_1

    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:1", "replicas": 2}, engine, clock, capsys=capsys
    )

    assert not failed, result["msg"]
    assert result["changed"] is False
    assert engine.posts == []
    assert result["verdict"] == "no_change"
    assert result["update_state"] is None
    assert result["image_resolution"] == "registry_digest"


def test_moved_local_tag_is_an_update(engine, clock, capsys):
    spec = existing(engine, image="busybox:latest")
    spec["TaskTemplate"]["ContainerSpec"]["Labels"] = {IMAGE_ID_LABEL: "sha256:old"}
    engine.add_service(spec, update_state="completed")
    engine.local_images["busybox:latest"] = "sha256:new"
    engine.on_update = lambda eng: new_tasks_after(eng, 0, image="busybox:latest")

    result, failed = run_module(
        swarm_rollout,
        {"name": "web", "image": "busybox:latest", "image_resolution": "local"},
        engine,
        clock,
        capsys=capsys,
    )

    assert not failed, result["msg"]
    ((_, _, body),) = engine.update_posts()
    assert body["TaskTemplate"]["ContainerSpec"]["Labels"][IMAGE_ID_LABEL] == "sha256:new"
    assert result["changed_options"] == ["container_labels", "labels"]
    assert result["image_id"] == "sha256:new"
    # local mode never asks a registry
    engine.api.inspect_distribution.assert_not_called()


def test_paused_update_is_rolled_back_server_side_and_fails_naming_the_task(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2

    def updated(eng):
        eng.set_update("updating")
        new_tasks_after(eng, 0, state="failed", err=EXIT_1, n=1)

    def poll(eng, now):
        if eng.service["UpdateStatus"]["State"] == "updating" and now >= 1003:
            eng.set_update("paused", "update paused due to failure or early termination of task new1")

    def rolled_back(eng):
        eng.on_poll = lambda e, now: e.set_update("rollback_completed", "rollback completed")
        eng.set_tasks(eng.tasks + [task("back1", slot=1, version=20)], current={"old1", "back1", "old2"})

    engine.on_update = updated
    engine.on_poll = poll
    engine.on_rollback = rolled_back

    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:2"}, engine, clock, capsys=capsys
    )

    assert failed
    ((path, params, _body),) = engine.rollback_posts()
    assert path == "/services/svc1/update"
    assert params == {"version": 6, "rollback": "previous", "registryAuthFrom": "previous-spec"}
    assert "update paused" in result["msg"]
    assert "task new1" in result["msg"] and EXIT_1 in result["msg"]
    assert "Rolled back server-side" in result["msg"]
    assert result["rolled_back"] is True
    assert result["verdict"] == "paused"  # the update's verdict; the rollback is in rolled_back
    assert result["update_state"] == "rollback_completed"
    assert any(EXIT_1 in line for line in result["failing_tasks"])
    assert result["changed"] is True
    assert slots(result) == [(1, "back1", "running"), (2, "old2", "running")]


def paused_update_rolled_back_server_side(engine, restart_after):
    """The update pauses on slot 1's failed task; after the module's rollback request the engine
    says rollback_completed at once and restores slot 1 later. Returns when the request came."""
    engine.digests["app:2"] = DIGEST_2
    requested = {}

    def updated(eng):
        eng.set_update("updating")
        new_tasks_after(eng, 0, state="failed", err=EXIT_1, n=1)

    def poll(eng, now):
        if eng.service["UpdateStatus"]["State"] == "updating" and now >= 1003:
            eng.set_update("paused", "update paused due to failure or early termination of task new1")

    def rolled_back(eng):
        requested["at"] = clock_now = eng.clock.now()

        def restoring(e, now):
            e.set_update("rollback_completed", "rollback completed")
            restore_slot_1(e, clock_now, now, restart_after)

        eng.on_poll = restoring

    engine.on_update = updated
    engine.on_poll = poll
    engine.on_rollback = rolled_back
    return requested


def test_server_side_rollback_waits_for_every_slot(engine, clock, capsys):
    existing(engine)
    requested = paused_update_rolled_back_server_side(engine, restart_after=8.0)

    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:2"}, engine, clock, capsys=capsys
    )

    assert failed
    assert len(engine.rollback_posts()) == 1
    assert "Rolled back server-side: the service runs its PREVIOUS spec" in result["msg"]
    assert "task new1" in result["msg"] and EXIT_1 in result["msg"]
    assert result["rolled_back"] is True and result["verdict"] == "paused"
    assert 8 <= clock.now() - requested["at"] < 10
    assert slots(result) == [(1, "back1", "running"), (2, "old2", "running")]


def test_server_side_rollback_reports_slots_not_restored_within_rollback_timeout(engine, clock, capsys):
    existing(engine)
    requested = paused_update_rolled_back_server_side(engine, restart_after=None)

    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:2", "rollback_timeout": 40}, engine, clock, capsys=capsys
    )

    assert failed
    assert result["rolled_back"] is True
    assert "task new1" in result["msg"] and EXIT_1 in result["msg"]
    assert (
        "Rolled back server-side; the rollback finished in the engine but 1 of 2 slots were not yet "
        "running the old version after 40s (rollback_timeout 40s)" in result["msg"]
    )
    assert "task back1 (slot 1) on m1 is starting" in result["msg"]
    assert "docker service ps" in result["msg"]
    # the whole rollback, restore included, fits in rollback_timeout
    assert 40 <= clock.now() - requested["at"] < 42


def engine_rolls_back_by_itself(engine, restart_after):
    """updating, rollback_started twice, then rollback_completed with slot 1 restored later.

    Returns the dict in which the time of the first rollback_completed poll is recorded.
    """
    states = iter(["updating", "rollback_started", "rollback_started"])
    seen = {}

    def poll(eng, now):
        state = next(states, "rollback_completed")
        eng.set_update(state)
        if state == "rollback_completed":
            seen.setdefault("completed", now)
            restore_slot_1(eng, seen["completed"], now, restart_after)

    engine.on_update = lambda eng: new_tasks_after(eng, 0, state="failed", err=EXIT_1, n=1)
    engine.on_poll = poll
    return seen


def test_engine_driven_rollback_waits_for_every_slot_then_fails(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2
    seen = engine_rolls_back_by_itself(engine, restart_after=5.0)

    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:2"}, engine, clock, capsys=capsys
    )

    assert failed
    assert result["rolled_back"] is True
    assert result["verdict"] == "rolled_back"
    assert result["update_state"] == "rollback_completed"
    assert "PREVIOUS spec" in result["msg"]
    assert "task new1 (slot 1) on m1 is failed: " + EXIT_1 in result["msg"]
    assert "not yet running" not in result["msg"]
    # It returned only once slot 1 ran its old-spec task again: the service is whole.
    assert 5 <= clock.now() - seen["completed"] < 7
    assert slots(result) == [(1, "back1", "running"), (2, "old2", "running")]
    assert all(row["up_to_date"] for row in result["tasks"])
    # The engine rolled back by itself: the module must not post a second rollback.
    assert engine.rollback_posts() == []
    assert len(engine.update_posts()) == 1


def test_engine_driven_rollback_reports_slots_not_restored_within_rollback_timeout(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2
    seen = engine_rolls_back_by_itself(engine, restart_after=None)

    result, failed = run_module(
        swarm_rollout,
        {"name": "web", "image": "app:2", "timeout": 300, "rollback_timeout": 20},
        engine,
        clock,
        capsys=capsys,
    )

    assert failed
    assert result["rolled_back"] is True
    assert result["verdict"] == "rolled_back"
    assert "task new1 (slot 1) on m1 is failed: " + EXIT_1 in result["msg"]
    assert (
        "the rollback finished in the engine but 1 of 2 slots were not yet running the old version "
        "after 20s (rollback_timeout 20s)" in result["msg"]
    )
    assert "task back1 (slot 1) on m1 is starting" in result["msg"]
    # rollback_timeout counts from rollback_completed, not what the update's timeout left
    assert 20 <= clock.now() - seen["completed"] < 22
    assert any(EXIT_1 in line for line in result["failing_tasks"])
    assert engine.rollback_posts() == []


def test_engine_driven_rollback_of_a_global_service_waits_for_the_node(clock, capsys):
    engine = FakeEngine(clock)
    spec = service_spec(image=f"app:1@{DIGEST_1}", Mode={"Global": {}})
    engine.add_service(spec, update_state="completed")
    engine.set_tasks(running_old(image=f"app:1@{DIGEST_1}"))
    engine.digests["app:2"] = DIGEST_2
    seen = engine_rolls_back_by_itself(engine, restart_after=6.0)

    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:2"}, engine, clock, capsys=capsys
    )

    assert failed and result["rolled_back"] is True
    # n1 had no task the engine wanted running until its restart: it counted all the same
    assert 6 <= clock.now() - seen["completed"] < 8
    assert [(row["node"], row["task_id"], row["state"]) for row in result["tasks"]] == [
        ("m1", "back1", "running"),
        ("w1", "old2", "running"),
    ]


def test_rollback_paused_is_a_failure_without_another_rollback(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2
    states = iter(["updating", "rollback_started"])
    engine.on_update = lambda eng: new_tasks_after(eng, 0, state="failed", err=EXIT_1, n=1)
    engine.on_poll = lambda eng, now: eng.set_update(next(states, "rollback_paused"))

    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:2"}, engine, clock, capsys=capsys
    )

    assert failed
    assert result["verdict"] == "rollback_paused"
    assert result["rolled_back"] is False
    assert "rollback itself paused" in result["msg"]
    assert engine.rollback_posts() == []


def test_timeout_while_updating_rolls_back_and_names_the_stuck_task(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2

    def updated(eng):
        eng.set_update("updating")
        new_tasks_after(eng, 0, state="pending", err=PORT_TAKEN, n=1)

    def rolled_back(eng):
        states = iter(["rollback_started"])
        eng.on_poll = lambda e, now: e.set_update(next(states, "rollback_completed"))
        eng.set_tasks(eng.tasks + [task("back1", slot=1, version=20)], current={"old1", "back1", "old2"})

    engine.on_update = updated
    engine.on_rollback = rolled_back

    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:2", "timeout": 30}, engine, clock, capsys=capsys
    )

    assert failed
    assert len(engine.rollback_posts()) == 1
    assert "timed out after 30s" in result["msg"]
    assert "task new1" in result["msg"] and PORT_TAKEN in result["msg"]
    assert result["rolled_back"] is True
    assert result["verdict"] == "timed_out"
    assert result["elapsed"] >= 30
    assert any(PORT_TAKEN in line for line in result["failing_tasks"])
    assert "Rolled back server-side: the service runs its PREVIOUS spec" in result["msg"]


def test_rollback_that_does_not_finish_is_reported_with_what_to_do(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2

    def updated(eng):
        eng.set_update("updating")
        new_tasks_after(eng, 0, state="pending", err=PORT_TAKEN, n=1)

    def rollback_stuck(eng):
        eng.set_tasks(eng.tasks + [task("back1", slot=1, state="ready", version=30)], current={"back1"})

    engine.on_update = updated
    engine.on_rollback = rollback_stuck
    started = clock.now()
    result, failed = run_module(
        swarm_rollout,
        {"name": "web", "image": "app:2", "timeout": 15, "rollback_timeout": 40},
        engine,
        clock,
        capsys=capsys,
    )

    assert failed
    assert len(engine.rollback_posts()) == 1
    assert "did not finish within rollback_timeout" in result["msg"]
    assert "task back1 (slot 1) on m1 is ready" in result["msg"]
    assert "docker service ps" in result["msg"]
    assert result["rolled_back"] is False
    assert result["update_state"] == "rollback_started"
    # the update got its 15s, the rollback its own 40s
    assert 55 <= clock.now() - started < 60


def test_timeout_without_rollback_leaves_the_update_running(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2

    def updated(eng):
        eng.set_update("updating")
        new_tasks_after(eng, 0, state="pending", err=PORT_TAKEN, n=1)

    engine.on_update = updated
    result, failed = run_module(
        swarm_rollout,
        {"name": "web", "image": "app:2", "timeout": 10, "rollback_on_failure": False},
        engine,
        clock,
        capsys=capsys,
    )

    assert failed
    assert engine.rollback_posts() == []
    assert "rollback_on_failure is false: the service is left updating" in result["msg"]
    assert result["rolled_back"] is False


def test_failed_first_deployment_is_not_rolled_back(engine, clock, capsys):
    engine.local_images["app:2"] = "sha256:2"

    def created(eng):
        eng.set_update("paused")
        eng.set_tasks([task("t1", slot=1, state="failed", err=EXIT_1)])

    engine.on_create = created
    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:2"}, engine, clock, capsys=capsys
    )

    assert failed
    assert engine.rollback_posts() == []
    assert "no previous spec to roll back to" in result["msg"]
    assert EXIT_1 in result["msg"]


def test_probes_gate_success_until_they_pass(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2
    engine.on_update = lambda eng: new_tasks_after(eng, 0)
    answers = iter([(False, "connection refused"), (False, "connection refused")])
    calls = []

    def probe(spec, host, port):
        calls.append((spec["type"], host, port))
        return next(answers, (True, "200"))

    result, failed = run_module(
        swarm_rollout,
        {"name": "web", "image": "app:2", "probes": [{"type": "http", "port": 8080, "path": "/health"}]},
        engine,
        clock,
        capsys=capsys,
        probe=probe,
    )

    assert not failed, result["msg"]
    assert result["verdict"] == "converged"
    assert len(result["probes"]) == 2 and all(p["ok"] for p in result["probes"])
    # two tasks probed per attempt; the first attempt's failure delayed success by a poll
    assert len(calls) >= 4
    assert all(port == 8080 for _type, _host, port in calls)


def test_probes_failing_until_timeout_roll_back(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2
    engine.on_update = lambda eng: new_tasks_after(eng, 0)

    def rolled_back(eng):
        eng.on_poll = lambda e, now: e.set_update("rollback_completed")
        back = [task(f"back{i}", slot=i, node_id=f"n{i}", version=20) for i in (1, 2)]
        eng.set_tasks(eng.tasks + back, current={"back1", "back2"})

    engine.on_rollback = rolled_back
    result, failed = run_module(
        swarm_rollout,
        {"name": "web", "image": "app:2", "timeout": 20, "probes": [{"type": "tcp", "port": 80}]},
        engine,
        clock,
        capsys=capsys,
        probe=lambda spec, host, port: (False, "connection refused"),
    )

    assert failed
    assert "health probes still fail after 20s" in result["msg"]
    assert "connection refused" in result["msg"]
    assert len(engine.rollback_posts()) == 1
    assert result["rolled_back"] is True


def test_check_mode_writes_nothing_and_reports_the_diff(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2

    result, failed = run_module(
        swarm_rollout,
        {"name": "web", "image": "app:2", "replicas": 4},
        engine,
        clock,
        check_mode=True,
        diff=True,
        capsys=capsys,
    )

    assert not failed
    assert result["changed"] is True
    assert engine.posts == []
    assert result["changed_options"] == ["image", "replicas"]
    assert result["diff"] == {
        "before": {"image": f"app:1@{DIGEST_1}", "replicas": 2},
        "after": {"image": f"app:2@{DIGEST_2}", "replicas": 4},
    }
    assert "would be updated" in result["msg"]
    assert clock.sleeps == []


def test_no_diff_key_without_diff_mode(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2
    result, _ = run_module(
        swarm_rollout, {"name": "web", "image": "app:2"}, engine, clock, check_mode=True, capsys=capsys
    )
    assert "diff" not in result


def test_no_op_after_an_earlier_rollback_is_success(engine, clock, capsys):
    # The previous run failed and was rolled back; asking again for the spec that now runs is fine.
    existing(engine, update_state=None)
    engine.set_update("rollback_completed")
    engine.digests["app:1"] = DIGEST_1

    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:1"}, engine, clock, capsys=capsys
    )

    assert not failed, result["msg"]
    assert result["changed"] is False and engine.posts == []


def test_no_op_on_a_paused_service_fails_without_rollback(engine, clock, capsys):
    existing(engine)
    engine.set_update("paused")
    engine.set_tasks(
        [task("x1", slot=1, state="failed", err=EXIT_1, desired="shutdown"), task("old2", slot=2)]
    )
    engine.digests["app:1"] = DIGEST_1

    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:1"}, engine, clock, capsys=capsys
    )

    assert failed
    assert engine.posts == []
    assert "Nothing was changed or rolled back" in result["msg"]
    assert "force: true" in result["msg"]


def test_mode_change_is_refused_with_advice(engine, clock, capsys):
    existing(engine)
    result, failed = run_module(
        swarm_rollout, {"name": "web", "mode": "global"}, engine, clock, capsys=capsys
    )
    assert failed
    assert "remove it (state: absent) and create it again" in result["msg"]
    assert engine.posts == []


def test_missing_secret_fails_before_any_write(engine, clock, capsys):
    existing(engine)
    result, failed = run_module(
        swarm_rollout, {"name": "web", "secrets": [{"name": "db_password"}]}, engine, clock, capsys=capsys
    )
    assert failed
    assert "secret(s) not found: db_password" in result["msg"]
    assert engine.posts == []


def test_absent_removes_and_is_idempotent(engine, clock, capsys):
    existing(engine)
    result, failed = run_module(
        swarm_rollout, {"name": "web", "state": "absent"}, engine, clock, capsys=capsys
    )
    assert not failed and result["changed"] is True
    assert engine.service is None
    engine.api.remove_service.assert_called_once_with("svc1")

    result, failed = run_module(
        swarm_rollout, {"name": "web", "state": "absent"}, engine, clock, capsys=capsys
    )
    assert not failed and result["changed"] is False


def test_image_required_to_create(engine, clock, capsys):
    result, failed = run_module(swarm_rollout, {"name": "web"}, engine, clock, capsys=capsys)
    assert failed
    assert "image is required to create a service" in result["msg"]


def test_image_nowhere_fails_with_what_to_do(engine, clock, capsys):
    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "ghost:1"}, engine, clock, capsys=capsys
    )
    assert failed
    assert "push it to a registry, or load it" in result["msg"]
    assert engine.posts == []


def test_engine_refusal_is_reported(engine, clock, capsys):
    engine.manager = False
    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:1"}, engine, clock, capsys=capsys
    )
    assert failed
    assert "not a swarm manager" in result["msg"]


def test_missing_docker_sdk_is_reported(engine, clock, capsys, monkeypatch):
    monkeypatch.setattr(docker_client, "HAS_DOCKER", False)
    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:1"}, engine, clock, capsys=capsys
    )
    assert failed
    assert "docker" in result["msg"] and "required" in result["msg"].lower()


def test_wait_false_returns_after_posting(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2
    result, failed = run_module(
        swarm_rollout, {"name": "web", "image": "app:2", "wait": False}, engine, clock, capsys=capsys
    )
    assert not failed
    assert len(engine.update_posts()) == 1
    assert clock.sleeps == []
    assert "not waiting" in result["msg"]


def test_with_registry_auth_sends_the_header(engine, clock, capsys, monkeypatch):
    existing(engine)
    engine.digests["registry.example.com/app:2"] = DIGEST_2
    engine.on_update = lambda eng: new_tasks_after(eng, 0)
    monkeypatch.setattr(
        docker_client.docker_auth, "get_config_header", lambda api, registry: f"auth-{registry}"
    )
    result, failed = run_module(
        swarm_rollout,
        {"name": "web", "image": "registry.example.com/app:2", "with_registry_auth": True},
        engine,
        clock,
        capsys=capsys,
    )
    assert not failed, result["msg"]
    ((_path, params, _body),) = engine.update_posts()
    assert "registryAuthFrom" not in params
    assert engine.api._post_json.call_args.kwargs["headers"] == {
        "X-Registry-Auth": "auth-registry.example.com"
    }


def engine_rolls_back_slowly(engine, completes_after):
    """The engine's own rollback starts at once and completes ``completes_after`` seconds after the
    update was posted (never, with None); slot 1's old-spec task is back when it completes."""
    seen = {}

    def poll(eng, now):
        seen.setdefault("posted", now)
        if completes_after is None or now - seen["posted"] < completes_after:
            eng.set_update("rollback_started")
            return
        eng.set_update("rollback_completed")
        seen.setdefault("completed", now)
        restore_slot_1(eng, seen["completed"] - 2, now, restart_after=0.0)

    engine.on_update = lambda eng: new_tasks_after(eng, 0, state="failed", err=EXIT_1, n=1)
    engine.on_poll = poll
    return seen


def test_engine_rollback_still_running_at_the_timeout_is_waited_for(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2
    seen = engine_rolls_back_slowly(engine, completes_after=45)

    result, failed = run_module(
        swarm_rollout,
        {"name": "web", "image": "app:2", "timeout": 30, "rollback_timeout": 60},
        engine,
        clock,
        capsys=capsys,
    )

    assert failed
    # The engine finished its rollback 15s after the update's timeout: that is ROLLED BACK.
    assert result["rolled_back"] is True
    assert "already rolling back at the timeout" in result["msg"]
    assert "PREVIOUS spec" in result["msg"]
    assert result["update_state"] == "rollback_completed"
    assert 45 <= clock.now() - seen["posted"] < 48
    # It was the engine's own rollback: no second one is posted.
    assert engine.rollback_posts() == []


def test_engine_rollback_still_running_after_rollback_timeout_is_not_rolled_back(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2
    seen = engine_rolls_back_slowly(engine, completes_after=None)

    result, failed = run_module(
        swarm_rollout,
        {"name": "web", "image": "app:2", "timeout": 30, "rollback_timeout": 20},
        engine,
        clock,
        capsys=capsys,
    )

    assert failed
    assert result["rolled_back"] is False
    assert "did not finish within rollback_timeout" in result["msg"]
    # the update's 30s, then the rollback's own 20s
    assert 50 <= clock.now() - seen["posted"] < 53
    assert engine.rollback_posts() == []


@pytest.mark.parametrize(
    ("option", "value", "kind", "missing"),
    [
        ("networks", ["backend"], "network", "backend"),
        ("secrets", [{"name": "db_password"}], "secret", "db_password"),
        ("configs", [{"name": "app_conf"}], "config", "app_conf"),
    ],
)
def test_strict_check_mode_refuses_a_missing_reference(engine, clock, capsys, option, value, kind, missing):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2
    args = {"name": "web", "image": "app:2", option: value}

    lenient, lenient_failed = run_module(swarm_rollout, args, engine, clock, check_mode=True, capsys=capsys)
    strict, strict_failed = run_module(
        swarm_rollout, dict(args, strict_references=True), engine, clock, check_mode=True, capsys=capsys
    )

    assert not lenient_failed and lenient["changed"]
    assert strict_failed
    assert f"web: {kind}(s) not found: {missing}" in strict["msg"]
    assert engine.posts == []


def test_strict_check_mode_accepts_references_by_name_or_id(engine, clock, capsys):
    existing(engine)
    engine.digests["app:2"] = DIGEST_2
    engine.networks["backend"] = "netid1"
    engine.secrets.append({"ID": "sec123", "Spec": {"Name": "db_password"}})
    engine.configs.append({"ID": "cfg123", "Spec": {"Name": "app_conf"}})
    args = {
        "name": "web",
        "image": "app:2",
        "networks": ["backend"],
        "secrets": [{"name": "sec123"}],
        "configs": [{"name": "app_conf"}],
        "strict_references": True,
    }
    result, failed = run_module(swarm_rollout, args, engine, clock, check_mode=True, capsys=capsys)
    assert not failed, result["msg"]
    assert engine.posts == []
