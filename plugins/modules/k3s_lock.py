#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Take, release or break the cluster lock of flotilla's rolling k3s runs (a ConfigMap in kube-system)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k3s_lock
short_description: Take, release or break the lock of flotilla's rolling k3s runs
version_added: 0.1.0
description:
  - The lock is the ConfigMap C(flotilla-lock) in C(kube-system). The API server refuses to create
    a second object with the same name, so taking the lock is atomic across servers and controllers.
  - Its data and its rules are those of M(flotilla.cluster.swarm_lock) (the same decision code) -
    the holder (controller user@host and process ID, a run ID), purpose and start time; another run's
    lock is never removed implicitly, however old; O(break_lock=true) or O(state=broken) removes it.
  - Runs on a k3s server and talks to the cluster through O(kubectl).
author:
  - flotilla developers
attributes:
  check_mode:
    support: full
    details: Reports what would happen, including who holds the lock; writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  state:
    description: C(present) takes the lock, C(absent) releases this run's lock, C(broken) removes whoever's.
    type: str
    choices: [present, absent, broken]
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
  kubectl:
    description: The command that runs kubectl against this server's cluster.
    type: list
    elements: str
    default: [k3s, kubectl]
"""

EXAMPLES = r"""
- name: Take the cluster lock for this run
  flotilla.cluster.k3s_lock:
    state: present
    purpose: k3s upgrade to v1.29.6+k3s1
  run_once: true
"""

RETURN = r"""
holder:
  description: The lock found before the call; empty when none was held.
  returned: always
  type: dict
action:
  description: What was done - create, keep, remove, replace, none or refuse.
  returned: always
  type: str
msg:
  description: What happened; when refused, who holds the lock and how to proceed.
  returned: always
  type: str
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils import cluster_lock

NAMESPACE = "kube-system"
ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["present", "absent", "broken"], "default": "present"},
    "run_id": {"type": "str"},
    "owner": {"type": "dict"},
    "purpose": {"type": "str", "default": ""},
    "stale_after": {"type": "int", "default": cluster_lock.DEFAULT_STALE_AFTER},
    "break_lock": {"type": "bool", "default": False},
    "kubectl": {"type": "list", "elements": "str", "default": ["k3s", "kubectl"]},
}


class LockError(Exception):
    pass


def run(kubectl, params: dict, check_mode: bool, now=None) -> dict:
    """``kubectl(args) -> (rc, stdout, stderr)``; the decision is cluster_lock.decide's."""
    state, run_id = params["state"], params.get("run_id") or ""
    if state != "broken" and not run_id:
        raise LockError("run_id is required to take or release the lock (the action plugin sets it)")
    rc, out, err = kubectl(["-n", NAMESPACE, "get", "configmap", cluster_lock.LOCK_NAME, "-o", "json"])
    found, unreadable = None, ""
    if rc != 0 and "notfound" not in (err + out).replace(" ", "").lower():
        raise LockError(f"cannot read the lock: kubectl failed (rc {rc}): {err.strip() or out.strip()}")
    if rc == 0:
        try:
            found = cluster_lock.decode((json.loads(out).get("data") or {}).get("lock", ""))
        except (ValueError, cluster_lock.LockDataError) as exc:
            unreadable = str(exc)
    moment = (now or time.time)()
    decision = cluster_lock.decide(
        state, run_id, found, moment, params["stale_after"], params["break_lock"], unreadable
    )
    result = {"changed": decision.changed, "holder": decision.holder, "action": decision.action}
    message = decision.message.replace(
        f"`docker config inspect {cluster_lock.LOCK_NAME}` on a manager",
        f"`k3s kubectl -n {NAMESPACE} get configmap {cluster_lock.LOCK_NAME} -o yaml` on a server",
    )
    if decision.refused:
        raise LockError(message, result)
    if check_mode:
        return dict(result, msg=message + (" (check mode)" if decision.changed else ""))
    if decision.action in ("remove", "replace"):
        kubectl(["-n", NAMESPACE, "delete", "configmap", cluster_lock.LOCK_NAME, "--ignore-not-found"])
    if decision.action in ("create", "replace"):
        data = cluster_lock.lock_data(run_id, params.get("owner") or {}, params["purpose"], moment)
        rc, out, err = kubectl(
            ["-n", NAMESPACE, "create", "configmap", cluster_lock.LOCK_NAME,
             "--from-literal=lock=" + cluster_lock.encode(data).decode()]
        )  # fmt: skip
        if rc != 0:
            if "alreadyexists" in (err + out).replace(" ", "").lower():
                raise LockError("another run took the lock at the same moment; re-run to see who holds it")
            raise LockError(f"cannot create the lock: kubectl failed (rc {rc}): {err.strip() or out.strip()}")
    return dict(result, msg=message)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)

    def kubectl(args):
        return module.run_command([*module.params["kubectl"], *args])

    try:
        result = run(kubectl, module.params, module.check_mode)
    except LockError as exc:
        module.fail_json(msg=exc.args[0], **(exc.args[1] if len(exc.args) > 1 else {}))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
