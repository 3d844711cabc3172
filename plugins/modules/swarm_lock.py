#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Take, release or break the cluster lock that keeps two rolling runs from overlapping."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_lock
short_description: Take, release or break the cluster-wide lock of flotilla's rolling runs
version_added: 0.1.0
description:
  - The lock is a Swarm config object named C(flotilla-lock). Managers create configs through Raft
    and refuse a second config with the same name, so taking the lock is atomic across managers
    and controllers.
  - Its data records the holder (controller user@host and process ID, a run ID), the purpose and the
    start time. It holds no secret.
  - A lock held by another run is never removed implicitly, however old; an old one is reported as
    stale with its owner and age. O(break_lock=true) (or O(state=broken)) removes it explicitly.
  - The action plugin fills O(owner) and O(run_id) from the controller process when they are unset,
    so the tasks of one ansible-playbook run share a run ID.
author:
  - flotilla developers
requirements:
  - docker (the Python SDK) >= 5.0
attributes:
  check_mode:
    support: full
    details: Reports what would happen, including who holds the lock; writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Taking a lock this run already holds, or releasing one that is gone, changes nothing.
options:
  state:
    description:
      - C(present) takes the lock (fails if another run holds it), C(absent) releases this run's lock
        (another run's lock is left in place), C(broken) removes the lock whoever holds it.
      - C(query) only reads who holds it (RV(holder), RV(progress), RV(held)) and never fails; an
        engine that cannot be read is reported in RV(error).
    type: str
    choices: [present, absent, broken, query]
    default: present
  run_id:
    description: Identifies the run holding the lock; the action plugin sets it to the controller process.
    type: str
  owner:
    description: The controller holding the lock, C({user, host, pid}); the action plugin fills it.
    type: dict
  purpose:
    description: What the run does, shown to whoever finds the lock held.
    type: str
    default: ""
  stale_after:
    description: Seconds after which a held lock is reported as stale (it is still never broken implicitly).
    type: int
    default: 7200
  break_lock:
    description: With O(state=present), replace a lock another run holds. Use only when no run is active.
    type: bool
    default: false
  progress:
    description:
      - With O(state=present), record how far this run got, C({node, step}), in the lock's labels
        (with the time), so that a run killed outright still names the node and step it had reached.
        Changed only when the node or step differs from what the lock records.
      - Another run's refusal message and O(holder) show it.
    type: dict
  docker_host:
    description: The engine to talk to; a manager's.
    type: str
    default: unix:///var/run/docker.sock
"""

EXAMPLES = r"""
- name: Take the cluster lock for this run
  flotilla.cluster.swarm_lock:
    state: present
    purpose: rolling upgrade to 26.1.5
  run_once: true

- name: Release it
  flotilla.cluster.swarm_lock:
    state: absent
  run_once: true

- name: Break a stale lock after checking that no run is active
  flotilla.cluster.swarm_lock:
    state: broken
  run_once: true
"""

RETURN = r"""
lock:
  description: The lock this run holds after the call (run_id, owner, purpose, started); empty when none.
  returned: always
  type: dict
holder:
  description: >-
    The lock found before the call (readable, run_id, owner, owner_label, purpose, started,
    age_seconds, age, stale, progress - the node, step and time it recorded - and progress_text);
    empty when none was held.
  returned: always
  type: dict
action:
  description: What was done - create, keep, remove, replace, none or refuse.
  returned: always
  type: str
held:
  description: With O(state=query), whether any run holds the lock.
  returned: when state is query
  type: bool
progress:
  description: >-
    With O(state=query), what the holder recorded in the lock config's labels (for example node
    and step), the C(org.flotilla.lock.) prefix dropped; empty when it recorded nothing.
  returned: when state is query
  type: dict
error:
  description: With O(state=query), why the lock could not be read; empty when it was read.
  returned: when state is query
  type: str
msg:
  description: What happened; when refused, who holds the lock and how to proceed.
  returned: always
  type: str
"""

import base64
import contextlib
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils import cluster_lock
from ansible_collections.flotilla.cluster.plugins.module_utils.docker_client import (
    DEFAULT_DOCKER_HOST,
    HAS_DOCKER,
    APIError,
    DockerException,
    NotFound,
    connect,
    engine_errors,
    error_text,
    module_client,
)

ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["present", "absent", "broken", "query"], "default": "present"},
    "run_id": {"type": "str"},
    "owner": {"type": "dict"},
    "purpose": {"type": "str", "default": ""},
    "stale_after": {"type": "int", "default": cluster_lock.DEFAULT_STALE_AFTER},
    "break_lock": {"type": "bool", "default": False},
    "progress": {"type": "dict"},
    "docker_host": {"type": "str", "default": DEFAULT_DOCKER_HOST},
}


class LockError(Exception):
    pass


class _Unreachable:
    """Stands for an engine that could not be connected to: every read raises why."""

    def __init__(self, exc):
        self.exc = exc

    def configs(self, filters=None):
        raise self.exc


def read_lock(api):
    """(config ID, decoded data or None, why unreadable, labels) of the lock config.

    (None, None, "", {}) when there is no lock.
    """
    listing = api.configs(filters={"name": cluster_lock.LOCK_NAME}) or []
    exact = [c for c in listing if (c.get("Spec") or {}).get("Name") == cluster_lock.LOCK_NAME]
    if not exact:
        return None, None, "", {}
    config_id = exact[0]["ID"]
    try:
        config = api.inspect_config(config_id)
    except NotFound:
        return None, None, "", {}  # released between the two calls
    spec = config.get("Spec") or {}
    labels = spec.get("Labels") or {}
    try:
        return config_id, cluster_lock.decode(base64.b64decode(spec.get("Data") or "")), "", labels
    except (ValueError, cluster_lock.LockDataError) as exc:
        return config_id, None, str(exc), labels


def update_labels(api, config_id: str, labels: dict) -> None:
    """Replace the lock's labels (the only part of a config the engine lets change)."""
    config = api.inspect_config(config_id)
    spec = dict(config.get("Spec") or {}, Labels=labels)
    # docker-py has no call for POST /configs/{id}/update; the client's own request helpers do it
    response = api._post_json(  # noqa: SLF001
        api._url("/configs/{0}/update", config_id),  # noqa: SLF001
        data=spec,
        params={"version": (config.get("Version") or {}).get("Index")},
    )
    api._raise_for_status(response)  # noqa: SLF001


def create_lock(api, data: dict, labels: dict | None = None) -> None:
    try:
        api.create_config(
            cluster_lock.LOCK_NAME, cluster_lock.encode(data), labels or {cluster_lock.LOCK_LABEL: "true"}
        )
    except APIError as exc:
        if getattr(exc, "status_code", None) == 409 or "already exists" in error_text(exc).lower():
            raise LockError(
                "another run took the lock at the same moment; re-run to see who holds it"
            ) from None
        raise


def remove_lock(api, config_id: str) -> None:
    # Already gone is the outcome the caller wanted.
    with contextlib.suppress(NotFound):
        api.remove_config(config_id)


def _query_client(docker_host: str):
    """A client, or a stand-in whose reads raise why there is none: a query never fails."""
    if not HAS_DOCKER:
        return _Unreachable(DockerException("the Docker SDK for Python (python3-docker) is not installed"))
    try:
        return connect(docker_host, 60)
    except DockerException as exc:
        return _Unreachable(exc)


def query(api, params: dict, now=None) -> dict:
    """Read-only: the holder and its progress labels; an engine error is reported, not raised."""
    result = {"changed": False, "held": False, "holder": {}, "progress": {}, "action": "none", "lock": {}}
    try:
        _config_id, found, unreadable, labels = read_lock(api)
    except DockerException as exc:
        why = error_text(exc)
        return dict(result, error=why, msg=f"cannot read the cluster lock: {why}")
    progress = cluster_lock.read_progress(labels) if (found or unreadable) else {}
    holder = cluster_lock.describe_holder(
        found, (now or time.time)(), params["stale_after"], unreadable, progress=progress
    )
    return dict(
        result,
        held=bool(holder),
        holder=holder,
        progress=progress,
        error="",
        msg=cluster_lock.query_message(holder),
    )


def run(api, params: dict, check_mode: bool, now=None) -> dict:
    state = params["state"]
    run_id = params.get("run_id") or ""
    if state != "broken" and not run_id:
        raise LockError("run_id is required to take or release the lock (the action plugin sets it)")
    config_id, found, unreadable, labels = read_lock(api)
    moment = (now or time.time)()
    decision = cluster_lock.decide(
        state,
        run_id,
        found,
        moment,
        stale_after=params["stale_after"],
        break_lock=params["break_lock"],
        unreadable=unreadable,
        found_progress=cluster_lock.read_progress(labels),
    )
    result = {"changed": decision.changed, "holder": decision.holder, "action": decision.action, "lock": {}}
    if decision.refused:
        raise LockError(decision.message, result)
    mine = (
        cluster_lock.lock_data(run_id, params.get("owner") or {}, params["purpose"], moment) if run_id else {}
    )
    progress = params.get("progress") if state == "present" else None
    try:
        new_labels = cluster_lock.progress_labels(
            labels if decision.action == "keep" else {cluster_lock.LOCK_LABEL: "true"}, progress, moment
        )
    except ValueError as exc:
        raise LockError(f"progress: {exc}") from None
    if decision.action == "keep":
        result["lock"] = found
        if new_labels is not None:
            result["changed"] = True
            result["progress"] = cluster_lock.read_progress(new_labels)
    if check_mode:
        if decision.action in ("create", "replace"):
            result["lock"] = mine
        return dict(result, msg=decision.message + (" (check mode)" if decision.changed else ""))
    if decision.action in ("remove", "replace"):
        remove_lock(api, config_id)
    if decision.action in ("create", "replace"):
        create_lock(api, mine, new_labels)
        result["lock"] = mine
    elif decision.action == "keep" and new_labels is not None:
        update_labels(api, config_id, new_labels)
        return dict(result, msg=f"recorded progress {cluster_lock.progress_text(result['progress'])}")
    return dict(result, msg=decision.message)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if module.params["state"] == "query":
        module.exit_json(**query(_query_client(module.params["docker_host"]), module.params))
    api = module_client(module)
    try:
        with engine_errors(module, "read or write the cluster lock"):
            result = run(api, module.params, module.check_mode)
    except LockError as exc:
        extra = exc.args[1] if len(exc.args) > 1 else {}
        module.fail_json(msg=exc.args[0], **extra)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
