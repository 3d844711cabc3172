#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Unlock an autolocked Swarm manager, or check that the controller's unlock key is the swarm's."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_unlock
short_description: Unlock a locked Swarm manager, or check the unlock key against the swarm's current one
version_added: 0.1.0
description:
  - On a locked manager (a swarm with autolock, after its engine started again) unlocks it with
    O(unlock_key) and waits until it is active.
  - On an active manager of an autolocked swarm checks that O(unlock_key) is the swarm's current
    unlock key, and fails before anything changes when it is missing or different, saying how to
    provide it. On a worker, or a swarm without autolock, does nothing.
  - The key is a secret - it is never returned or logged (the option is no_log, and messages name
    O(key_source), never the key); call it with C(no_log) set on the task as well.
author:
  - flotilla developers
requirements:
  - docker (the Python SDK) >= 5.0
attributes:
  check_mode:
    support: full
    details: Checks the key; a locked node is reported as would-be-unlocked, not unlocked.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  unlock_key:
    description: The swarm's unlock key (C(SWMKEY-1-...)); empty when the controller has none.
    type: str
    default: ""
  key_source:
    description: Where the key came from (the controller file), named in messages instead of the key.
    type: str
    default: ""
  timeout:
    description: Seconds to wait for the engine to answer and, after unlocking, to report the node active.
    type: int
    default: 60
  docker_host:
    description: The engine of the node to unlock or to ask.
    type: str
    default: unix:///var/run/docker.sock
"""

EXAMPLES = r"""
- name: Unlock this manager after its engine restarted
  flotilla.cluster.swarm_unlock:
    unlock_key: "{{ lookup('ansible.builtin.file', swarm_unlock_key_dest) }}"
    key_source: "{{ swarm_unlock_key_dest }}"
  no_log: true
"""

RETURN = r"""
autolock:
  description: Whether the swarm uses autolock (null when this node cannot tell - a worker).
  returned: always
  type: bool
state:
  description: This node's Swarm state after the call (active, locked, ...).
  returned: always
  type: str
action:
  description: unlock or none.
  returned: always
  type: str
msg:
  description: What happened; on refusal how to provide the key.
  returned: always
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils.docker_client import (
    DEFAULT_DOCKER_HOST,
    DockerException,
    connect,
    error_text,
    require_docker_sdk,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_unlock import STATE_ACTIVE, decide

ARGUMENT_SPEC = {
    "unlock_key": {"type": "str", "default": "", "no_log": True},
    "key_source": {"type": "str", "default": ""},
    "timeout": {"type": "int", "default": 60},
    "docker_host": {"type": "str", "default": DEFAULT_DOCKER_HOST},
}


def swarm_state(api) -> tuple[str, bool]:
    swarm = (api.info() or {}).get("Swarm") or {}
    return swarm.get("LocalNodeState") or "inactive", bool(swarm.get("ControlAvailable"))


def run(params: dict, check_mode: bool, client_factory=connect, now=time.monotonic, sleep=time.sleep) -> dict:
    deadline = now() + params["timeout"]
    api, last_error = None, ""
    while api is None:  # right after a restart the engine may not answer yet
        try:
            api = client_factory(params["docker_host"])
            state, is_manager = swarm_state(api)
        except DockerException as exc:
            api, last_error = None, error_text(exc)
            if now() >= deadline:
                why = f"the engine did not answer within {params['timeout']}s: {last_error}"
                return {"failed": True, "msg": why}
            sleep(1)
    autolock, current = None, None
    if state == STATE_ACTIVE and is_manager:
        while True:  # an election in progress answers 503 for a few seconds
            try:
                encryption = (api.inspect_swarm().get("Spec") or {}).get("EncryptionConfig") or {}
                autolock = bool(encryption.get("AutoLockManagers"))
                if autolock:
                    current = (api.get_unlock_key() or {}).get("UnlockKey") or ""
                break
            except DockerException as exc:
                if now() >= deadline:
                    return {
                        "failed": True,
                        "action": "refuse",
                        "msg": f"cannot read the swarm's autolock setting and unlock key within "
                        f"{params['timeout']}s: {error_text(exc)}. "
                        "Check the swarm (flotilla status) and re-run",
                    }
                sleep(1)
    decision = decide(state, is_manager, params["unlock_key"], params["key_source"], autolock, current)
    result = {"changed": False, "autolock": decision.autolock, "state": state, "action": decision.action}
    if decision.action == "refuse":
        return dict(result, failed=True, msg=decision.message)
    if decision.action == "none":
        return dict(result, msg=decision.message)
    result["changed"] = True
    if check_mode:
        return dict(result, msg=decision.message + " (check mode: not unlocked)")
    try:
        api.unlock_swarm(params["unlock_key"].strip())
    except DockerException as exc:
        # the engine's words; they never contain the key
        return dict(
            result,
            changed=False,
            failed=True,
            msg=f"the engine refused the unlock key from {params['key_source'] or 'the caller'}: "
            f"{error_text(exc)}. "
            "Check that it is the swarm's current key (`docker swarm unlock-key -q` on an unlocked manager)",
        )
    while True:
        try:
            state, _ = swarm_state(api)
        except DockerException as exc:
            last_error = error_text(exc)
        if state == STATE_ACTIVE:
            return dict(result, state=state, msg="unlocked; the manager is active again")
        if now() >= deadline:
            return dict(
                result,
                state=state,
                failed=True,
                msg=f"unlocked, but the node is still {state} after {params['timeout']}s "
                f"{last_error}".rstrip(),
            )
        sleep(1)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    require_docker_sdk(module)
    result = run(module.params, module.check_mode)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
