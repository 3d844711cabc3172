# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.convergence import (
    CONVERGED,
    IN_PROGRESS,
    NO_CHANGE,
    PAUSED,
    ROLLBACK_PAUSED,
    ROLLED_BACK,
    TIMED_OUT,
    ConvergenceWatch,
    DrainTask,
    ServiceCapacity,
    ServiceSnapshot,
    TaskSnapshot,
    evaluate_drain,
    evaluate_update,
)

PORT_TAKEN = "host-mode port already in use on 1 node"
EXIT_1 = "task: non-zero exit (1)"


def task(
    task_id,
    state="running",
    desired="running",
    current=True,
    node="n1",
    err="",
    down=False,
    slot=None,
    message="",
):
    return TaskSnapshot(
        task_id=task_id,
        node_id=node,
        desired_state=desired,
        state=state,
        up_to_date=current,
        slot=slot,
        err=err,
        message=message,
        node_down=down,
    )


def running(n, prefix="t"):
    return tuple(task(f"{prefix}{i}", node=f"n{i}", slot=i) for i in range(1, n + 1))


def snap(update_state, tasks, **kwargs):
    kwargs.setdefault("replicas", 3)
    kwargs.setdefault("monitor", 5.0)
    kwargs.setdefault("timeout", 300.0)
    return ServiceSnapshot(update_state=update_state, tasks=tuple(tasks), **kwargs)


# (snapshot, status, running, expected, fragments expected in the message)
CASES = [
    pytest.param(
        snap("completed", running(3), converged_for=5.0),
        CONVERGED,
        3,
        3,
        ["update completed", "stable"],
        id="completed-and-stable",
    ),
    pytest.param(
        snap("completed", running(3), converged_for=2.0),
        IN_PROGRESS,
        3,
        3,
        ["3s more"],
        id="completed-not-yet-stable-for-monitor",
    ),
    pytest.param(
        snap("completed", running(3), converged_for=None),
        IN_PROGRESS,
        3,
        3,
        ["5s more"],
        id="completed-first-converged-poll",
    ),
    pytest.param(
        snap("completed", running(2), converged_for=None),
        IN_PROGRESS,
        2,
        3,
        ["2 of 3"],
        id="completed-but-a-task-missing",
    ),
    pytest.param(
        snap("updating", running(3), converged_for=60.0),
        IN_PROGRESS,
        3,
        3,
        ["update state updating"],
        id="updating-waits-for-the-engine-monitor",
    ),
    pytest.param(
        snap(None, running(3), converged_for=5.0),
        NO_CHANGE,
        3,
        3,
        ["no update recorded"],
        id="no-update-status-converged",
    ),
    pytest.param(
        snap(None, running(3), converged_for=1.0),
        IN_PROGRESS,
        3,
        3,
        ["4s more"],
        id="no-update-status-still-watching",
    ),
    pytest.param(
        snap(None, running(2) + (task("t3", state="starting"),), converged_for=None),
        IN_PROGRESS,
        2,
        3,
        ["update state none"],
        id="new-service-starting",
    ),
    pytest.param(
        snap("completed", (), replicas=0, converged_for=5.0),
        CONVERGED,
        0,
        0,
        [],
        id="scaled-to-zero",
    ),
    pytest.param(
        snap("completed", running(4), mode="global", replicas=None, eligible_nodes=4, converged_for=9.0),
        CONVERGED,
        4,
        4,
        [],
        id="global-service",
    ),
    pytest.param(
        snap("completed", running(3), mode="global", replicas=None, eligible_nodes=4, converged_for=9.0),
        IN_PROGRESS,
        3,
        4,
        [],
        id="global-service-missing-a-node",
    ),
    pytest.param(
        snap("completed", running(2) + (task("t9", node="gone", down=True),), converged_for=9.0),
        IN_PROGRESS,
        2,
        3,
        [],
        id="task-on-down-node-does-not-count",
    ),
    pytest.param(
        snap("completed", running(3) + (task("old", current=False),), converged_for=9.0),
        CONVERGED,
        3,
        3,
        [],
        id="old-spec-tasks-do-not-count",
    ),
    pytest.param(
        snap("completed", running(3) + (task("t4", desired="shutdown"),), converged_for=9.0),
        CONVERGED,
        3,
        3,
        [],
        id="tasks-being-shut-down-do-not-count",
    ),
    pytest.param(
        snap("completed", running(3), converged_for=0.0, monitor=0.0),
        CONVERGED,
        3,
        3,
        [],
        id="monitor-zero",
    ),
    pytest.param(
        snap("rollback_started", running(1), elapsed=20.0),
        IN_PROGRESS,
        1,
        3,
        ["rollback in progress"],
        id="rollback-in-progress",
    ),
    pytest.param(
        snap(
            "paused",
            running(2) + (task("t3", state="failed", err=EXIT_1),),
            update_message="update paused due to failure or early termination of task t3",
        ),
        PAUSED,
        2,
        3,
        [EXIT_1, "engine: update paused", "new spec"],
        id="paused-quotes-the-failing-task",
    ),
    pytest.param(
        snap(
            "paused", running(2) + (task("t3", state="rejected", err="No such image: web:9"),), elapsed=999.0
        ),
        PAUSED,
        2,
        3,
        ["No such image"],
        id="paused-wins-over-timeout",
    ),
    pytest.param(
        snap("rollback_paused", running(1) + (task("t2", state="failed", err=EXIT_1),)),
        ROLLBACK_PAUSED,
        1,
        3,
        ["rollback itself paused", EXIT_1],
        id="rollback-paused",
    ),
    pytest.param(
        snap(
            "rollback_completed",
            running(3) + (task("new1", state="failed", current=False, err=EXIT_1),),
            converged_for=100.0,
            update_message="rollback completed",
        ),
        ROLLED_BACK,
        3,
        3,
        ["PREVIOUS spec", EXIT_1],
        id="rollback-completed-is-failure-even-when-converged",
    ),
    # After rollback_completed the slot whose new task failed gets its old-spec task from the
    # restart policy a few seconds later: the verdict waits for it.
    pytest.param(
        snap(
            "rollback_completed",
            running(2)
            + (
                task("old3", state="shutdown", desired="shutdown", slot=3),
                task("new3", state="failed", current=False, err=EXIT_1, desired="shutdown", slot=3),
            ),
            restore_elapsed=3.0,
            restore_timeout=300.0,
        ),
        IN_PROGRESS,
        2,
        3,
        ["the engine rolled back", "2 of 3 slots run the previous spec"],
        id="rollback-completed-waits-for-the-restarted-slot",
    ),
    pytest.param(
        snap(
            "rollback_completed",
            running(2) + (task("back3", state="starting", slot=3, node="n3"),),
            elapsed=500.0,  # past the update's timeout: the restore has its own
            restore_elapsed=10.0,
            restore_timeout=60.0,
        ),
        IN_PROGRESS,
        2,
        3,
        ["2 of 3 slots"],
        id="rollback-completed-restore-has-its-own-clock",
    ),
    pytest.param(
        snap(
            "rollback_completed",
            running(3) + (task("new3", state="failed", current=False, err=EXIT_1, slot=3),),
            restore_elapsed=4.0,
            restore_timeout=60.0,
        ),
        ROLLED_BACK,
        3,
        3,
        ["PREVIOUS spec", "task new3 (slot 3) on n1 is failed: " + EXIT_1],
        id="rollback-completed-and-every-slot-restored",
    ),
    pytest.param(
        snap(
            "rollback_completed",
            running(1)
            + (
                task("back2", state="pending", slot=2, node="", err="no suitable node"),
                task("new3", state="failed", current=False, err=EXIT_1, slot=3),
            ),
            restore_elapsed=60.0,
            restore_timeout=60.0,
        ),
        ROLLED_BACK,
        1,
        3,
        [
            "PREVIOUS spec",
            EXIT_1,
            "the rollback finished in the engine but 2 of 3 slots were not yet running the old version "
            "after 60s (rollback_timeout 60s)",
            "task back2 (slot 2) is pending: no suitable node",
        ],
        id="rollback-completed-restore-timed-out",
    ),
    pytest.param(
        snap("rollback_completed", running(2), elapsed=120.0, timeout=120.0),
        ROLLED_BACK,
        2,
        3,
        ["1 of 3 slots were not yet running the old version after 120s (rollback_timeout 120s)"],
        id="rollback-completed-without-restore-clock-uses-the-wait-timeout",
    ),
    pytest.param(
        snap(
            "rollback_completed",
            (
                task("g1", state="shutdown", desired="shutdown", node="n1"),
                task("new1", state="failed", current=False, desired="shutdown", node="n1", err=EXIT_1),
                task("g2", node="n2"),
                task("g3", node="n3"),
            ),
            mode="global",
            replicas=None,
            eligible_nodes=2,  # n1 holds no current task the engine wants running, yet
            restore_elapsed=2.0,
            restore_timeout=60.0,
        ),
        IN_PROGRESS,
        2,
        3,
        ["2 of 3 slots"],
        id="rollback-completed-global-waits-for-the-node-of-the-failed-task",
    ),
    pytest.param(
        snap(
            "rollback_completed",
            (
                task("g1", state="shutdown", desired="shutdown", node="n1"),
                task("back1", node="n1"),
                task("g2", node="n2"),
                task("g3", node="n3"),
                task("g4", state="shutdown", desired="shutdown", node="n4", down=True),
            ),
            mode="global",
            replicas=None,
            eligible_nodes=3,
            restore_elapsed=5.0,
            restore_timeout=60.0,
        ),
        ROLLED_BACK,
        3,
        3,
        ["PREVIOUS spec"],
        id="rollback-completed-global-restored-down-node-ignored",
    ),
    pytest.param(
        snap(
            "rollback_completed",
            (
                # n1 was drained during the run: the engine shut its task down and wants none there
                task("g1", state="shutdown", desired="shutdown", node="n1"),
                task("new1", state="shutdown", current=False, desired="shutdown", node="n1"),
                task("g2", node="n2"),
                task("g3", node="n3"),
                # n4 was removed from the swarm: its task is orphaned, not a slot to wait for
                task("g4", state="orphaned", desired="shutdown", node="n4"),
            ),
            mode="global",
            replicas=None,
            eligible_nodes=2,
            restore_elapsed=1.0,
            restore_timeout=300.0,
        ),
        ROLLED_BACK,
        2,
        2,
        ["PREVIOUS spec"],
        id="rollback-completed-global-drained-and-removed-nodes-are-not-slots",
    ),
    pytest.param(
        snap(
            "updating",
            running(2)
            + (task("t3", state="pending", err=PORT_TAKEN, slot=3, node=""), task("old3", current=False)),
            elapsed=300.0,
        ),
        TIMED_OUT,
        2,
        3,
        [
            "timed out after 300s",
            "stuck: task t3 (slot 3) is pending",
            PORT_TAKEN,
            "1 task(s) of the previous spec still running",
        ],
        id="start-first-stuck-on-port",
    ),
    pytest.param(
        snap(None, running(2), elapsed=301.0),
        TIMED_OUT,
        2,
        3,
        ["no current-spec task is pending", "placement constraints"],
        id="timed-out-with-no-task-to-blame",
    ),
    pytest.param(
        snap("completed", running(4), elapsed=400.0),
        TIMED_OUT,
        4,
        3,
        ["scale-down has not finished"],
        id="timed-out-too-many",
    ),
    pytest.param(
        snap("updating", running(3), elapsed=300.0, converged_for=200.0),
        TIMED_OUT,
        3,
        3,
        ["engine has not finished its update monitor"],
        id="timed-out-while-engine-still-updating",
    ),
    pytest.param(
        snap("completed", running(3), elapsed=300.0, converged_for=1.0),
        TIMED_OUT,
        3,
        3,
        ["not yet stayed running for the 5s monitor"],
        id="timed-out-before-stable",
    ),
]


@pytest.mark.parametrize(("snapshot", "status", "running_count", "expected", "fragments"), CASES)
def test_evaluate_update(snapshot, status, running_count, expected, fragments):
    verdict = evaluate_update(snapshot)
    assert verdict.status == status
    assert verdict.running == running_count
    assert verdict.expected == expected
    assert verdict.converged_now is (running_count == expected)
    assert verdict.done is (status != IN_PROGRESS)
    assert verdict.failed is (status in (PAUSED, ROLLED_BACK, ROLLBACK_PAUSED, TIMED_OUT))
    assert verdict.rolled_back is (status == ROLLED_BACK)
    assert verdict.update_state == snapshot.update_state
    for fragment in fragments:
        assert fragment in verdict.message, (fragment, verdict.message)


def test_failing_tasks_listed_current_first_and_down_nodes_ignored():
    tasks = (
        task("old", state="failed", current=False, err="old failure"),
        task("gone", state="failed", down=True, err="on a dead node"),
        task("new", state="failed", err=EXIT_1),
        task("ok"),
    )
    verdict = evaluate_update(snap("paused", tasks))
    assert [p.task_id for p in verdict.tasks] == ["new", "old"]
    assert verdict.tasks[0].err == EXIT_1
    assert "on a dead node" not in verdict.message


def test_message_quotes_at_most_three_tasks_but_lists_all():
    tasks = tuple(task(f"f{i}", state="failed", err=EXIT_1) for i in range(5))
    verdict = evaluate_update(snap("paused", tasks, replicas=5))
    assert len(verdict.tasks) == 5
    assert "and 2 more" in verdict.message


def test_timed_out_lists_stuck_tasks_with_their_status():
    tasks = running(1) + (
        task("p1", state="preparing", message="preparing"),
        task("p2", state="pending", err="no suitable node (scheduling constraints not satisfied on 3 nodes)"),
    )
    verdict = evaluate_update(snap("updating", tasks, elapsed=600.0))
    assert verdict.status == TIMED_OUT
    assert [(p.task_id, p.state) for p in verdict.tasks] == [("p1", "preparing"), ("p2", "pending")]
    assert "no suitable node" in verdict.message
    assert "is preparing: preparing" in verdict.message


@pytest.mark.parametrize(
    ("task_version", "status", "running_count"),
    [(7, CONVERGED, 3), (6, IN_PROGRESS, 0)],
)
def test_spec_version_marker_instead_of_flag(task_version, status, running_count):
    tasks = tuple(TaskSnapshot(task_id=f"t{i}", state="running", spec_version=task_version) for i in range(3))
    verdict = evaluate_update(snap("completed", tasks, spec_version=7, converged_for=5.0))
    assert verdict.status == status
    assert verdict.running == running_count


@pytest.mark.parametrize(
    ("snapshot", "fragment"),
    [
        pytest.param(snap("rolling", running(3)), "unknown UpdateStatus.State", id="unknown-state"),
        pytest.param(snap("completed", running(3), mode="replicated-job"), "not supported", id="job-mode"),
        pytest.param(snap("completed", running(3), replicas=None), "needs replicas", id="no-replicas"),
        pytest.param(snap("completed", running(3), replicas=-1), "needs replicas", id="negative-replicas"),
        pytest.param(
            snap("completed", running(3), mode="global", replicas=None), "needs eligible_nodes", id="global"
        ),
        pytest.param(snap("completed", running(3), elapsed=-1), "elapsed", id="negative-elapsed"),
        pytest.param(snap("completed", running(3), timeout="5m"), "timeout", id="timeout-not-a-number"),
        pytest.param(
            snap("rollback_completed", running(3), restore_elapsed=-1.0, restore_timeout=5.0),
            "restore_elapsed",
            id="negative-restore-elapsed",
        ),
        pytest.param(
            snap("rollback_completed", running(3), restore_elapsed=1.0, restore_timeout="1m"),
            "restore_timeout",
            id="restore-timeout-not-a-number",
        ),
        pytest.param(
            snap("completed", (TaskSnapshot(task_id="x", state="running"),)),
            "give up_to_date",
            id="no-marker",
        ),
    ],
)
def test_evaluate_update_rejects_bad_snapshots(snapshot, fragment):
    with pytest.raises(ValueError) as caught:
        evaluate_update(snapshot)
    assert fragment in str(caught.value)


# Polls: (time, number of current tasks running); replicas 3, monitor 5, timeout 30, started at 100.
WATCH_CASES = [
    pytest.param(
        [(101, 2, IN_PROGRESS), (102, 3, IN_PROGRESS), (104, 3, IN_PROGRESS), (107, 3, CONVERGED)],
        id="stable-after-monitor",
    ),
    pytest.param(
        [
            (102, 3, IN_PROGRESS),
            (103, 2, IN_PROGRESS),
            (104, 3, IN_PROGRESS),
            (108, 3, IN_PROGRESS),
            (109, 3, CONVERGED),
        ],
        id="a-flap-restarts-the-clock",
    ),
    pytest.param([(110, 1, IN_PROGRESS), (130, 2, TIMED_OUT)], id="times-out"),
]


@pytest.mark.parametrize("polls", WATCH_CASES)
def test_convergence_watch(polls):
    watch = ConvergenceWatch(started=100.0)
    for now, count, status in polls:
        tasks = running(count) + tuple(task(f"s{i}", state="starting") for i in range(3 - count))
        verdict = watch.observe(snap("completed", tasks, timeout=30.0), now=float(now))
        assert verdict.status == status, (now, verdict.message)


# Polls after the engine's own rollback: (time, update state, slots running the restored spec,
# status). Replicas 3, update timeout 30 from 100, rollback_timeout 20 from the first
# rollback_completed poll.
ROLLBACK_WATCH_CASES = [
    pytest.param(
        [
            (110, "rollback_started", 1, IN_PROGRESS),
            (125, "rollback_completed", 2, IN_PROGRESS),
            (135, "rollback_completed", 2, IN_PROGRESS),  # past the update timeout: not its clock
            (140, "rollback_completed", 3, ROLLED_BACK),
        ],
        id="waits-for-the-restarted-slot",
    ),
    pytest.param(
        [
            (125, "rollback_completed", 2, IN_PROGRESS),
            (144, "rollback_completed", 2, IN_PROGRESS),
            (145, "rollback_completed", 2, ROLLED_BACK),
        ],
        id="restore-times-out-after-rollback-timeout",
    ),
]


@pytest.mark.parametrize("polls", ROLLBACK_WATCH_CASES)
def test_convergence_watch_after_an_engine_rollback(polls):
    watch = ConvergenceWatch(started=100.0, rollback_timeout=20.0)
    verdict = None
    for now, state, count, status in polls:
        tasks = running(count) + tuple(task(f"s{i}", state="starting") for i in range(3 - count))
        verdict = watch.observe(snap(state, tasks, timeout=30.0), now=float(now))
        assert verdict.status == status, (now, verdict.message)
    assert verdict.rolled_back is True and verdict.failed is True
    assert bool(verdict.shortfall) is (verdict.running < verdict.expected)
    if verdict.shortfall:
        assert "1 of 3 slots were not yet running the old version after 20s" in verdict.message
        assert verdict.shortfall in verdict.message


def test_convergence_watch_without_rollback_timeout_keeps_one_clock():
    watch = ConvergenceWatch(started=100.0)
    verdict = watch.observe(snap("rollback_completed", running(2), timeout=30.0), now=129.0)
    assert verdict.status == IN_PROGRESS
    verdict = watch.observe(snap("rollback_completed", running(2), timeout=30.0), now=130.0)
    assert verdict.status == ROLLED_BACK
    assert "after 30s (rollback_timeout 30s)" in verdict.shortfall


def test_convergence_watch_with_zero_monitor_finishes_on_first_converged_poll():
    watch = ConvergenceWatch(started=0.0)
    verdict = watch.observe(snap(None, running(3), monitor=0.0), now=1.0)
    assert verdict.status == NO_CHANGE
    assert watch.converged_since == 1.0


# (tasks on the drained node, services, complete, pending task count, short services)
DRAIN_CASES = [
    pytest.param([], [], True, 0, [], id="empty-node"),
    pytest.param(
        [DrainTask("a", "web", "shutdown"), DrainTask("b", "api", "complete")],
        [ServiceCapacity("web", 3, 3), ServiceCapacity("api", 2, 2)],
        True,
        0,
        [],
        id="done",
    ),
    pytest.param(
        [DrainTask("a", "web", "running")],
        [ServiceCapacity("web", 3, 3)],
        False,
        1,
        [],
        id="task-still-running-on-node",
    ),
    pytest.param(
        [DrainTask("a", "web", "shutdown"), DrainTask("b", "db", "failed")],
        [ServiceCapacity("web", 3, 2), ServiceCapacity("db", 1, 0)],
        False,
        0,
        ["web: 2 of 3 running elsewhere", "db: 0 of 1 running elsewhere"],
        id="replacements-not-running",
    ),
    pytest.param(
        [DrainTask("a", "web", "shutdown")],
        [ServiceCapacity("web", 3, 4)],
        True,
        0,
        [],
        id="overlap-more-than-desired",
    ),
    pytest.param(
        [DrainTask("g", "agent", "shutdown")],
        [ServiceCapacity("agent", 2, 2)],
        True,
        0,
        [],
        id="global-service-stopped-not-moved",
    ),
    pytest.param(
        [DrainTask("a", "web", "preparing"), DrainTask("b", "web", "rejected")],
        [ServiceCapacity("web", 0, 0)],
        False,
        1,
        [],
        id="preparing-is-alive-rejected-is-not",
    ),
]


@pytest.mark.parametrize(("tasks", "services", "complete", "alive", "short"), DRAIN_CASES)
def test_evaluate_drain(tasks, services, complete, alive, short):
    verdict = evaluate_drain(tasks, services)
    assert verdict.complete is complete
    assert verdict.timed_out is False
    assert len(verdict.tasks_on_node) == alive
    assert list(verdict.services_short) == short
    if complete:
        assert verdict.message.startswith("drain complete")
    else:
        assert verdict.message.startswith("drain in progress")
        for item in verdict.tasks_on_node + verdict.services_short:
            assert item in verdict.message


@pytest.mark.parametrize(
    ("elapsed", "timeout", "timed_out"),
    [(None, None, False), (10.0, None, False), (59.0, 60.0, False), (60.0, 60.0, True), (90.0, 60.0, True)],
)
def test_drain_timeout(elapsed, timeout, timed_out):
    verdict = evaluate_drain(
        [DrainTask("a", "web", "running")], [ServiceCapacity("web", 2, 1)], elapsed=elapsed, timeout=timeout
    )
    assert verdict.complete is False
    assert verdict.timed_out is timed_out
    assert ("the node stays drained" in verdict.message) is timed_out
    assert "web: 1 of 2 running elsewhere" in verdict.message


def test_drain_complete_is_never_timed_out():
    verdict = evaluate_drain([], [ServiceCapacity("web", 1, 1)], elapsed=500.0, timeout=60.0)
    assert verdict.complete is True
    assert verdict.timed_out is False


@pytest.mark.parametrize(
    "service",
    [ServiceCapacity("web", -1, 0), ServiceCapacity("web", 1, None), ServiceCapacity("web", True, 1)],
)
def test_drain_rejects_bad_counts(service):
    with pytest.raises(ValueError, match="service 'web'"):
        evaluate_drain([], [service])
