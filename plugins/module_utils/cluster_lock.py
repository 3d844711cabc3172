# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The cluster lock that keeps two rolling runs from overlapping.

The lock is a Swarm config object (``LOCK_NAME``): the managers create configs through Raft and
refuse a second one with the same name, so "create" is an atomic test-and-set that every manager
agrees on, and the lock lives with the cluster rather than on one controller. Its data is a small
JSON document saying who holds it (controller user@host and pid, a run ID) and since when. It holds
no secret: configs are readable by anyone with access to a manager.

This module decides, from the lock just read (or its absence) and the caller's request, what to
do and what to tell the operator; the swarm_lock module does the engine calls. Pure, no I/O, Python
3.9 syntax (module_utils run on managed nodes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

LOCK_NAME = "flotilla-lock"
LOCK_LABEL = "org.flotilla.lock"
DEFAULT_STALE_AFTER = 7200
# Where a run records how far it got. A config's data is immutable, but its labels can be updated
# (the engine accepts a label-only change), so progress lives there: a run killed outright still
# leaves the node and step it had reached, for the next run's refusal and for flotilla status.
PROGRESS_LABELS = {
    "node": "org.flotilla.lock.node",
    "step": "org.flotilla.lock.step",
    "at": "org.flotilla.lock.at",
}


class LockDataError(ValueError):
    """The lock's data is not what flotilla writes."""


def lock_data(run_id: str, owner: dict, purpose: str, now: float) -> dict:
    """The document stored in the lock. ``owner`` is {user, host, pid} of the controller."""
    if not run_id or not isinstance(run_id, str):
        raise ValueError("the lock needs a run ID (a non-empty string)")
    return {
        "run_id": run_id,
        "owner": {
            "user": str((owner or {}).get("user") or "unknown"),
            "host": str((owner or {}).get("host") or "unknown"),
            "pid": (owner or {}).get("pid"),
        },
        "purpose": purpose or "",
        "started": float(now),
    }


def encode(data: dict) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def decode(raw) -> dict:
    """Parse the lock's data (bytes or str); a document another tool wrote raises LockDataError."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode()
        except UnicodeDecodeError as exc:
            raise LockDataError("the lock's data is not UTF-8 text") from exc
    try:
        data = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise LockDataError(f"the lock's data is not JSON: {str(raw)[:80]!r}") from exc
    if not isinstance(data, dict) or not data.get("run_id") or not isinstance(data.get("owner"), dict):
        raise LockDataError(f"the lock's data lacks run_id and owner: {str(raw)[:80]!r}")
    try:
        data["started"] = float(data.get("started"))
    except (TypeError, ValueError) as exc:
        raise LockDataError(f"the lock's start time is not a number: {data.get('started')!r}") from exc
    return data


def progress_labels(labels: dict | None, progress: dict | None, now: float) -> dict | None:
    """The lock's labels carrying ``progress`` ({node, step}), or None when they already say so.

    The time is rewritten only when the node or the step changes, so recording the same step
    twice changes nothing (the module reports changed only when the labels differ).
    """
    labels = dict(labels or {})
    progress = {k: str(v) for k, v in (progress or {}).items() if v not in (None, "")}
    unknown = sorted(set(progress) - {"node", "step"})
    if unknown:
        raise ValueError(f"progress takes node and step, got {unknown}")
    if not progress:
        return None
    current = read_progress(labels)
    if all(current.get(key) == value for key, value in progress.items()):
        return None
    for key in ("node", "step"):
        labels.pop(PROGRESS_LABELS[key], None)
    for key, value in progress.items():
        labels[PROGRESS_LABELS[key]] = value
    labels[PROGRESS_LABELS["at"]] = repr(float(now))
    return labels


def read_progress(labels: dict | None) -> dict:
    """{node, step, at} from the lock's labels; keys absent when not recorded."""
    labels = labels or {}
    out = {key: labels[name] for key, name in PROGRESS_LABELS.items() if labels.get(name)}
    if "at" in out:
        try:
            out["at"] = float(out["at"])
        except ValueError:
            del out["at"]
    return out


def progress_text(progress: dict | None, now: float | None = None) -> str:
    """'at node m2, step "Drain ..." (for 1m05s)', or '' when nothing was recorded."""
    progress = progress or {}
    if not progress.get("node") and not progress.get("step"):
        return ""
    parts = []
    if progress.get("node"):
        parts.append(f"node {progress['node']}")
    if progress.get("step"):
        parts.append(f'step "{progress["step"]}"')
    since = ""
    if now is not None and progress.get("at") is not None:
        since = f" (for {format_age(now - progress['at'])})"
    return "at " + ", ".join(parts) + since


def owner_label(data: dict) -> str:
    owner = data.get("owner") or {}
    pid = owner.get("pid")
    return f"{owner.get('user', 'unknown')}@{owner.get('host', 'unknown')}" + (f" (pid {pid})" if pid else "")


def format_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


@dataclass(frozen=True)
class LockDecision:
    """What the module does: ``action`` is one of create, keep, remove, replace, none, refuse.

    ``holder`` describes the lock found (empty when none): run_id, owner, purpose, started,
    age_seconds, stale, readable.
    """

    action: str
    changed: bool
    message: str
    holder: dict
    refused: bool = False


def describe_holder(
    data: dict | None, now: float, stale_after: float, unreadable: str = "", progress: dict | None = None
) -> dict:
    if data is None and not unreadable:
        return {}
    if unreadable:
        return {"readable": False, "error": unreadable, "stale": True}
    age = max(0.0, now - data["started"])
    return {
        "progress": dict(progress or {}),
        "progress_text": progress_text(progress, now),
        "readable": True,
        "run_id": data["run_id"],
        "owner": data.get("owner") or {},
        "owner_label": owner_label(data),
        "purpose": data.get("purpose", ""),
        "started": data["started"],
        "age_seconds": round(age, 1),
        "age": format_age(age),
        "stale": age >= stale_after,
    }


def decide(
    state: str,
    run_id: str,
    found: dict | None,
    now: float,
    stale_after: float = DEFAULT_STALE_AFTER,
    break_lock: bool = False,
    unreadable: str = "",
    found_progress: dict | None = None,
) -> LockDecision:
    """Decide what to do with the lock.

    ``state``: ``present`` (acquire), ``absent`` (release our own) or ``broken`` (remove whoever's).
    ``found`` is the decoded lock on the cluster, None when there is none; ``unreadable`` is the
    reason a lock exists whose data could not be decoded (it is held by something, never ours).
    ``found_progress`` is what the holder recorded of its progress (read_progress of the labels).

    Acquiring is re-entrant for the same run ID, so a play that re-runs the lock task is harmless.
    Another run's lock is never removed implicitly, stale or not: a stale lock usually means a run
    died, but it can also be a run that is still draining a slow node. Staleness only changes the
    advice. ``break_lock`` with ``present`` replaces any other lock, which is the operator's
    explicit "I checked, no run is active".
    """
    if state not in ("present", "absent", "broken"):
        raise ValueError(f"lock state must be present, absent or broken, got {state!r}")
    holder = describe_holder(found, now, stale_after, unreadable, found_progress)
    ours = bool(found) and not unreadable and found.get("run_id") == run_id
    exists = bool(holder)

    if state == "broken":
        if not exists:
            return LockDecision("none", False, f"no {LOCK_NAME} lock is held", holder)
        return LockDecision("remove", True, f"broke the lock held by {_who(holder)}", holder)

    if state == "absent":
        if not exists:
            return LockDecision("none", False, f"no {LOCK_NAME} lock is held; nothing to release", holder)
        if ours:
            return LockDecision("remove", True, f"released the lock of run {run_id}", holder)
        # Never release another run's lock: that would let a third run start next to it.
        return LockDecision(
            "none", False, f"the lock is held by {_who(holder)}, not by this run; left in place", holder
        )

    # present
    if not exists:
        return LockDecision("create", True, f"took the {LOCK_NAME} lock for run {run_id}", holder)
    if ours:
        return LockDecision("keep", False, f"this run ({run_id}) already holds the lock", holder)
    if break_lock:
        return LockDecision(
            "replace", True, f"broke the lock held by {_who(holder)} and took it for run {run_id}", holder
        )
    return LockDecision("refuse", False, refusal_message(holder), holder, refused=True)


def _who(holder: dict) -> str:
    if not holder.get("readable", True):
        return f"an unreadable {LOCK_NAME} config ({holder.get('error', '')})"
    where = f", {holder['progress_text']}" if holder.get("progress_text") else ""
    return f"{holder['owner_label']}, run {holder['run_id']}, held for {holder['age']}{where}"


def refusal_message(holder: dict) -> str:
    """Why a run cannot start, and what the operator can do about it."""
    if not holder.get("readable", True):
        return (
            f"another {LOCK_NAME} config exists but flotilla cannot read it ({holder.get('error', '')}); "
            f"inspect it with `docker config inspect {LOCK_NAME}` on a manager, then re-run with "
            "-e flotilla_break_lock=true if no rolling run is active"
        )
    what = f" ({holder['purpose']})" if holder.get("purpose") else ""
    base = f"another rolling run{what} holds the cluster lock: {_who(holder)}. "
    if holder.get("stale"):
        return base + (
            "The lock is stale: that run most likely died. If no flotilla run is active on "
            f"{holder['owner'].get('host', 'its controller')}, re-run with -e flotilla_break_lock=true "
            "(nodes it left drained are picked up again by the plan)"
        )
    return base + (
        "Wait for it to finish; if you are sure it is no longer running, re-run with "
        "-e flotilla_break_lock=true"
    )


def query_message(holder: dict) -> str:
    """One line on who holds the lock (or that none does), for status and refusals."""
    if not holder:
        return "no rolling run holds the cluster lock"
    if not holder.get("readable", True):
        return f"the cluster lock is held by {_who(holder)}"
    what = f" ({holder['purpose']})" if holder.get("purpose") else ""
    stale = ", stale" if holder.get("stale") else ""
    at = holder.get("progress_text") or ""
    return f"the cluster lock is held by {_who(holder)}{stale}{what}" + (f"; {at}" if at else "")


def released_by(results) -> bool:
    """Whether one of these swarm_lock state=absent results shows this run's lock is gone.

    ``results`` are registered task results, tried manager after manager: one that removed the
    lock, or found none at all, settles it; unreachable managers, engine errors and a lock found
    held by another run do not.
    """
    for result in results or []:
        if not isinstance(result, dict) or result.get("unreachable") or result.get("skipped"):
            continue
        if result.get("action") == "remove":
            return True
        # a module that failed (an engine error) returns no action at all
        if result.get("action") == "none" and not result.get("holder"):
            return True
    return False
