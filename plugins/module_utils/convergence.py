# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""When is a swarm service update finished, failed, or stuck; when is a node drain done.

The engine answers none of these directly (docs/engine-facts.md):

* ``UpdateStatus.State`` says ``completed`` only after its own monitor, says ``rollback_completed``
  when the service is back on the OLD spec (a failure for whoever asked for the new one) even
  though the slot whose new task failed gets its old-spec task from the restart policy only a few
  seconds later, and stays ``updating`` forever when a task cannot start: the engine has no update
  timeout;
* a service whose spec did not change (or that was just created) has no UpdateStatus at all;
* draining a node stops its tasks but does not wait for replacements to run elsewhere.

So a module polls, builds a snapshot of what it read, and asks :func:`evaluate_update` or
:func:`evaluate_drain` for a verdict that says what to do next. Time is passed in, never read
here, so every branch is testable; :class:`ConvergenceWatch` keeps the one piece of state a
polling loop needs. Kept to Python 3.9 syntax because module_utils run on managed nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

IN_PROGRESS = "in_progress"
CONVERGED = "converged"
NO_CHANGE = "no_change"
PAUSED = "paused"
ROLLED_BACK = "rolled_back"
ROLLBACK_PAUSED = "rollback_paused"
TIMED_OUT = "timed_out"

SUCCESS_STATUSES = (CONVERGED, NO_CHANGE)
FAILURE_STATUSES = (PAUSED, ROLLED_BACK, ROLLBACK_PAUSED, TIMED_OUT)

UPDATE_STATES = (
    "updating",
    "paused",
    "completed",
    "rollback_started",
    "rollback_paused",
    "rollback_completed",
)

# Task states from which a task never runs again.
TERMINAL_TASK_STATES = ("complete", "shutdown", "failed", "rejected", "remove", "orphaned")
FAILED_TASK_STATES = ("failed", "rejected", "orphaned")

# How many tasks a message quotes; the full list is in Verdict.tasks.
_QUOTED_TASKS = 3


@dataclass(frozen=True)
class TaskSnapshot:
    """One task as read from ``GET /tasks?service=...``.

    Whether the task belongs to the service's current spec is either given as ``up_to_date`` (the
    caller compared specs, as the CLI's ``_up-to-date`` filter does) or derived from
    ``spec_version`` equal to the snapshot's ``spec_version``. ``node_down`` marks tasks on nodes
    the engine reports down: they are ignored, as ``docker service update`` ignores them, because a
    down node's last report is stale.
    """

    task_id: str
    node_id: str = ""
    desired_state: str = "running"
    state: str = "new"
    up_to_date: bool | None = None
    spec_version: object = None
    slot: int | None = None
    err: str = ""
    message: str = ""
    node_down: bool = False


@dataclass(frozen=True)
class ServiceSnapshot:
    """What a module read about one service in one poll, plus the clock.

    ``elapsed`` counts from when the update was posted (or waiting began); ``converged_for`` from
    when convergence was first seen without interruption (None: not converged at the last poll).
    ``replicas`` is for replicated services, ``eligible_nodes`` (ready, active nodes that satisfy
    the placement constraints) for global ones.

    ``restore_elapsed`` and ``restore_timeout`` time the wait, after the engine reports
    ``rollback_completed``, for the restored spec's tasks to run in every slot: seconds since
    that state was first seen, and how long the caller allows (its rollback_timeout). None means
    ``elapsed`` and ``timeout`` apply, as in a wait that is itself for a rollback.
    """

    update_state: str | None
    tasks: tuple[TaskSnapshot, ...] = ()
    mode: str = "replicated"
    replicas: int | None = None
    eligible_nodes: int | None = None
    spec_version: object = None
    update_message: str = ""
    elapsed: float = 0.0
    converged_for: float | None = None
    monitor: float = 5.0
    timeout: float = 300.0
    restore_elapsed: float | None = None
    restore_timeout: float | None = None


@dataclass(frozen=True)
class TaskProblem:
    """A task worth quoting to the operator: failed, or not running when it should be."""

    task_id: str
    node_id: str
    slot: int | None
    state: str
    desired_state: str
    err: str
    message: str

    def describe(self) -> str:
        where = f" on {self.node_id}" if self.node_id else ""
        slot = f" (slot {self.slot})" if self.slot is not None else ""
        detail = self.err or self.message
        return f"task {self.task_id}{slot}{where} is {self.state}" + (f": {detail}" if detail else "")


@dataclass(frozen=True)
class Verdict:
    """The answer for one poll. ``done`` means stop polling; ``failed`` means report a failure.

    ``converged_now`` is the instantaneous check (current-spec tasks running == expected); a
    caller that tracks time itself uses it to start or reset ``converged_for``. ``shortfall`` is
    set on a final ``rolled_back`` verdict whose restored spec did not run in every slot in time:
    the sentence saying how many slots were missing, for callers that word their own message.
    """

    status: str
    done: bool
    failed: bool
    rolled_back: bool
    message: str
    running: int
    expected: int
    converged_now: bool
    update_state: str | None
    tasks: tuple[TaskProblem, ...] = ()
    shortfall: str = ""


def _problem(task: TaskSnapshot) -> TaskProblem:
    return TaskProblem(
        task_id=task.task_id,
        node_id=task.node_id,
        slot=task.slot,
        state=task.state,
        desired_state=task.desired_state,
        err=task.err,
        message=task.message,
    )


def _is_current(task: TaskSnapshot, snapshot: ServiceSnapshot) -> bool:
    if task.up_to_date is not None:
        return bool(task.up_to_date)
    if task.spec_version is None or snapshot.spec_version is None:
        raise ValueError(
            f"task {task.task_id!r}: give up_to_date, or spec_version on both the task and the snapshot"
        )
    return task.spec_version == snapshot.spec_version


def _expected(snapshot: ServiceSnapshot) -> int:
    if snapshot.mode == "replicated":
        value, name = snapshot.replicas, "replicas"
    elif snapshot.mode == "global":
        value, name = snapshot.eligible_nodes, "eligible_nodes"
    else:
        raise ValueError(f"service mode {snapshot.mode!r} is not supported; expected replicated or global")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"a {snapshot.mode} service needs {name} as a whole number >= 0, got {value!r}")
    return value


def _validate(snapshot: ServiceSnapshot) -> None:
    if snapshot.update_state is not None and snapshot.update_state not in UPDATE_STATES:
        raise ValueError(
            f"unknown UpdateStatus.State {snapshot.update_state!r}; "
            f"expected one of {', '.join(UPDATE_STATES)}"
        )
    for name in ("elapsed", "monitor", "timeout", "restore_elapsed", "restore_timeout"):
        value = getattr(snapshot, name)
        if value is None and name.startswith("restore_"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")


def _quote(problems) -> str:
    shown = "; ".join(p.describe() for p in problems[:_QUOTED_TASKS])
    more = len(problems) - _QUOTED_TASKS
    return shown + (f"; and {more} more" if more > 0 else "")


def _failing_tasks(live: list[TaskSnapshot], current_ids: set[str]) -> tuple[TaskProblem, ...]:
    """Tasks that failed or carry an error, current-spec ones first: they explain a pause."""
    failing = [t for t in live if t.state in FAILED_TASK_STATES or (t.err and t.state != "running")]
    failing.sort(key=lambda t: t.task_id not in current_ids)
    return tuple(_problem(t) for t in failing)


def _restore_expected(snapshot: ServiceSnapshot, live: list[TaskSnapshot], expected: int) -> int:
    """Slots the restored spec must fill after a rollback.

    Replicated: the restored spec's replica count. Global: ``eligible_nodes`` counts nodes that
    hold a current-spec task the engine wants running, and the node whose failed task awaits its
    restart has none for a few seconds; so also count each live node that holds a task the engine
    wants running, whatever its spec, or a task that failed or was rejected (its restart is due).
    A node drained or left out by the restored constraints holds only tasks the engine shut down,
    and a removed node's tasks are orphaned: neither is a slot to wait for.
    """
    if snapshot.mode != "global":
        return expected
    waiting = {
        t.node_id
        for t in live
        if t.node_id and (t.desired_state == "running" or t.state in ("failed", "rejected"))
    }
    return max(expected, len(waiting))


def evaluate_update(snapshot: ServiceSnapshot) -> Verdict:
    """Judge one poll of a service update.

    * ``paused`` / ``rollback_paused`` are final failures, whatever the tasks look like: a paused
      update stays paused until a new spec is posted.
    * ``rollback_completed`` means the OLD spec is back, which must never be reported as success.
      It is final (ROLLED_BACK) once the restored spec's tasks run in every slot, or when
      ``restore_timeout`` (else ``timeout``) has passed, with a message saying how many slots are
      still missing; until then it is in progress, so the caller returns only when the service
      is whole again.
    * ``completed`` (or no UpdateStatus) becomes CONVERGED (or NO_CHANGE) only when the current
      spec's running tasks equal the expected count and have stayed so for ``monitor``: the
      engine's own ``completed`` can precede a crash, and a service without UpdateStatus has no
      engine-side monitor at all.
    * ``updating`` and ``rollback_started`` are in progress until ``timeout``: the engine never
      gives up on a task stuck in pending or preparing, so the timeout verdict names the stuck
      tasks with their ``Status.Err``/``Message``.
    """
    _validate(snapshot)
    expected = _expected(snapshot)
    state = snapshot.update_state
    live = [t for t in snapshot.tasks if not t.node_down]
    current = [t for t in live if _is_current(t, snapshot)]
    current_ids = {t.task_id for t in current}
    running = sum(1 for t in current if t.desired_state == "running" and t.state == "running")
    converged_now = running == expected
    stable = (
        converged_now and snapshot.converged_for is not None and snapshot.converged_for >= snapshot.monitor
    )
    engine_note = f" (engine: {snapshot.update_message})" if snapshot.update_message else ""

    def verdict(status, message, tasks=(), rolled_back=False):
        return Verdict(
            status=status,
            done=status != IN_PROGRESS,
            failed=status in FAILURE_STATUSES,
            rolled_back=rolled_back,
            message=message,
            running=running,
            expected=expected,
            converged_now=converged_now,
            update_state=state,
            tasks=tuple(tasks),
        )

    if state == "rollback_completed":
        return _evaluate_restore(snapshot, live, current, current_ids, running, expected, engine_note)

    if state in ("paused", "rollback_paused"):
        failing = _failing_tasks(live, current_ids)
        cause = f": {_quote(failing)}" if failing else ""
        if state == "paused":
            return verdict(
                PAUSED,
                f"update paused after task failures{engine_note}{cause}. The update stays paused until "
                "a new spec is posted: fix the cause and deploy again, or roll back",
                failing,
            )
        return verdict(
            ROLLBACK_PAUSED,
            f"the rollback itself paused after task failures{engine_note}{cause}. The service runs a "
            "mix of old and new tasks: fix the cause and post a spec",
            failing,
        )

    if state in ("completed", None) and stable:
        if state is None:
            return verdict(NO_CHANGE, f"no update recorded; {running} of {expected} tasks running and stable")
        return verdict(CONVERGED, f"update completed; {running} of {expected} tasks running and stable")

    if snapshot.elapsed >= snapshot.timeout:
        stuck = tuple(_problem(t) for t in current if t.desired_state == "running" and t.state != "running")
        old_running = sum(
            1
            for t in live
            if t.task_id not in current_ids and t.desired_state == "running" and t.state == "running"
        )
        parts = [
            f"timed out after {snapshot.elapsed:g}s (timeout {snapshot.timeout:g}s) with update state "
            f"{state or 'none'}{engine_note}: {running} of {expected} current tasks running"
        ]
        if stuck:
            parts.append(f"stuck: {_quote(stuck)}")
        elif running < expected:
            parts.append(
                "no current-spec task is pending for the missing slots: check placement constraints, "
                "node availability and resources"
            )
        elif running > expected:
            parts.append("more tasks run than expected: a scale-down has not finished")
        elif converged_now and state == "updating":
            parts.append("tasks run but the engine has not finished its update monitor")
        elif converged_now:
            parts.append(f"tasks have not yet stayed running for the {snapshot.monitor:g}s monitor period")
        if old_running:
            parts.append(f"{old_running} task(s) of the previous spec still running")
        return verdict(TIMED_OUT, "; ".join(parts), stuck)

    if state == "rollback_started":
        progress = f"rollback in progress{engine_note}; {running} of {expected} tasks running"
    elif state in ("completed", None) and converged_now:
        since = snapshot.converged_for or 0
        progress = (
            f"{running} of {expected} tasks running; confirming they stay up for "
            f"{max(snapshot.monitor - since, 0):g}s more"
        )
    else:
        progress = f"update state {state or 'none'}; {running} of {expected} current tasks running"
    return verdict(IN_PROGRESS, progress)


def _evaluate_restore(snapshot, live, current, current_ids, running, expected, engine_note) -> Verdict:
    """``rollback_completed``: wait until the restored spec runs in every slot, or time out."""
    slots = _restore_expected(snapshot, live, expected)
    restored = running >= slots
    elapsed = snapshot.elapsed if snapshot.restore_elapsed is None else snapshot.restore_elapsed
    timeout = snapshot.timeout if snapshot.restore_timeout is None else snapshot.restore_timeout
    failing = _failing_tasks(live, current_ids)
    cause = f": {_quote(failing)}" if failing else ""
    shortfall = ""
    if restored:
        status = ROLLED_BACK
        message = (
            f"update failed and the engine rolled back: the service runs its PREVIOUS spec{engine_note}"
            f"{cause}. Fix the cause and deploy again"
        )
    elif elapsed < timeout:
        status = IN_PROGRESS
        message = (
            f"the engine rolled back{engine_note}; {running} of {slots} slots run the previous spec, "
            "waiting for the rest"
        )
    else:
        status = ROLLED_BACK
        waiting = tuple(_problem(t) for t in current if t.desired_state == "running" and t.state != "running")
        shortfall = (
            f"the rollback finished in the engine but {slots - running} of {slots} slots were not yet "
            f"running the old version after {elapsed:g}s (rollback_timeout {timeout:g}s)"
            + (f"; {_quote(waiting)}" if waiting else "")
        )
        message = (
            f"update failed and the engine rolled back to the PREVIOUS spec{engine_note}{cause}; "
            f"{shortfall}. Follow it with docker service ps; fix the cause and deploy again"
        )
    return Verdict(
        status=status,
        done=status != IN_PROGRESS,
        failed=status in FAILURE_STATUSES,
        rolled_back=status == ROLLED_BACK,
        message=message,
        running=running,
        expected=slots,
        converged_now=running == slots,
        update_state="rollback_completed",
        tasks=failing,
        shortfall=shortfall,
    )


class ConvergenceWatch:
    """Keeps ``converged_for`` across polls so a module loop stays a few lines.

    Any poll that is not converged resets the clock: stability means unbroken stability, which is
    how the engine's monitor treats a task that leaves RUNNING.

    With ``rollback_timeout``, the wait for the restored spec's tasks after ``rollback_completed``
    gets that many seconds from the poll that first saw the state, instead of what is left of the
    update's ``timeout``: the engine rolled back by itself, and its restart delay is no part of
    the update.
    """

    def __init__(self, started: float, rollback_timeout: float | None = None):
        self.started = started
        self.rollback_timeout = rollback_timeout
        self.converged_since: float | None = None
        self.rolled_back_since: float | None = None

    def observe(self, snapshot: ServiceSnapshot, now: float) -> Verdict:
        """Evaluate ``snapshot`` at time ``now``; its ``elapsed``/``converged_for`` are set here."""
        since = self.converged_since
        timed = replace(
            snapshot,
            elapsed=max(now - self.started, 0.0),
            converged_for=None if since is None else max(now - since, 0.0),
        )
        if snapshot.update_state == "rollback_completed" and self.rollback_timeout is not None:
            if self.rolled_back_since is None:
                self.rolled_back_since = now
            timed = replace(
                timed,
                restore_elapsed=max(now - self.rolled_back_since, 0.0),
                restore_timeout=self.rollback_timeout,
            )
        result = evaluate_update(timed)
        if not result.converged_now:
            self.converged_since = None
        elif since is None:
            # First converged poll: the clock starts now. Judge again so that monitor=0 finishes
            # at once instead of one poll later.
            self.converged_since = now
            result = evaluate_update(replace(timed, converged_for=0.0))
        return result


@dataclass(frozen=True)
class DrainTask:
    """A task the scheduler placed on the node being drained."""

    task_id: str
    service: str
    state: str
    desired_state: str = "shutdown"


@dataclass(frozen=True)
class ServiceCapacity:
    """An affected service: replicas it wants, and how many run on nodes other than the drained one.

    For a global service ``desired`` is the number of eligible nodes other than the drained one:
    its task on the drained node is simply stopped, not moved.
    """

    service: str
    desired: int
    running_elsewhere: int


@dataclass(frozen=True)
class DrainVerdict:
    complete: bool
    timed_out: bool
    message: str
    tasks_on_node: tuple[str, ...] = ()
    services_short: tuple[str, ...] = ()


def evaluate_drain(
    node_tasks, services, elapsed: float | None = None, timeout: float | None = None
) -> DrainVerdict:
    """Say whether draining a node has finished, and what is still pending.

    Done means both: no task on the node is still alive (stopping it is what makes maintenance
    safe), and every affected service runs its desired replicas elsewhere (the engine starts
    replacements but does not wait for them, and taking the node down before they run is an
    outage). ``elapsed``/``timeout`` are optional; when given, an unfinished drain past the timeout
    is reported as timed out with the same list of what is pending.
    """
    alive = []
    for task in node_tasks:
        if task.state not in TERMINAL_TASK_STATES:
            alive.append(f"{task.task_id} ({task.service}) is {task.state}")
    short = []
    for service in services:
        for name in ("desired", "running_elsewhere"):
            value = getattr(service, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"service {service.service!r}: {name} must be a whole number >= 0, got {value!r}"
                )
        if service.running_elsewhere < service.desired:
            short.append(
                f"{service.service}: {service.running_elsewhere} of {service.desired} running elsewhere"
            )

    if not alive and not short:
        return DrainVerdict(
            True, False, "drain complete: no task left on the node and all services at capacity"
        )

    pending = []
    if alive:
        pending.append(f"{len(alive)} task(s) still on the node: {'; '.join(alive[:_QUOTED_TASKS])}")
    if short:
        pending.append(f"replacements not running yet: {'; '.join(short[:_QUOTED_TASKS])}")
    timed_out = elapsed is not None and timeout is not None and elapsed >= timeout
    if timed_out:
        message = (
            f"drain not complete after {elapsed:g}s: " + "; ".join(pending) + ". Check placement constraints "
            "and free resources on other nodes, then retry; the node stays drained"
        )
    else:
        message = "drain in progress: " + "; ".join(pending)
    return DrainVerdict(False, timed_out, message, tuple(alive), tuple(short))
