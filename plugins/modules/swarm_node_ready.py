#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Wait until a restarted Swarm node is back: ready, at the target engine release, quorum intact."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_node_ready
short_description: Wait until a restarted Swarm node is ready and its running engine reports the target
version_added: 0.1.0
description:
  - Read-only. Polls a manager's node list until O(node) is C(ready), the engine version its running
    engine registered with is O(version) (a package on disk proves nothing until the daemon
    restarts), and, for a manager, it is reachable in Raft with quorum and a leader elected.
  - With O(restarted_after), also waits until the node's swarm record is newer than that version,
    proof that the engine went through a restart and registered again, without which a restart that
    changes no version would read as done before the engine even stopped.
  - Tolerates the engine it talks to being briefly unavailable (a restart, a leader election) and
    keeps polling until O(timeout); on timeout it fails saying exactly what it still waits for.
  - The wait runs inside the module, not as an SSH loop that Ansible could cut off as unreachable.
author:
  - flotilla developers
requirements:
  - docker (the Python SDK) >= 5.0
attributes:
  check_mode:
    support: full
    details: Reports the current verdict once, without waiting.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  node:
    description: The node's ID or hostname.
    type: str
    required: true
  version:
    description: Upstream release X.Y.Z the node's running engine must report; empty checks readiness only.
    type: str
    default: ""
  restarted_after:
    description:
      - The node record's version (C(Version.Index)) read right before its engine was restarted or
        its host rebooted, as the step result of M(flotilla.cluster.swarm_upgrade_plan) reports it
        in C(record_version). 0 when no restart is to be proven.
    type: int
    default: 0
  timeout:
    description: Seconds to wait.
    type: int
    default: 300
  poll_interval:
    description: Seconds between polls.
    type: float
    default: 2.0
  docker_host:
    description: The engine to ask; a manager's (another manager than O(node) while it restarts).
    type: str
    default: unix:///var/run/docker.sock
"""

EXAMPLES = r"""
- name: Wait for the upgraded worker, asking the first manager
  flotilla.cluster.swarm_node_ready:
    node: "{{ __node_id }}"
    version: "26.1.5"
    timeout: 300
  delegate_to: "{{ groups['swarm_managers'][0] }}"
"""

RETURN = r"""
ready:
  description: Whether the node is back.
  returned: always
  type: bool
node:
  description: >-
    The node as last read (id, hostname, role, availability, state, message, engine_version,
    manager_reachability, record_version).
  returned: always
  type: dict
engine_version:
  description: The release the node's running engine reports.
  returned: always
  type: str
leader:
  description: The leader's hostname as last read.
  returned: always
  type: str
waiting_for:
  description: What was still awaited at the last poll (empty when ready).
  returned: always
  type: list
  elements: str
last_error:
  description: The last error the engine returned while polling, if any.
  returned: always
  type: str
elapsed:
  description: Seconds waited.
  returned: always
  type: float
msg:
  description: What happened; on timeout what is still awaited and what to check.
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
from ansible_collections.flotilla.cluster.plugins.module_utils.node_readiness import evaluate

ARGUMENT_SPEC = {
    "node": {"type": "str", "required": True},
    "version": {"type": "str", "default": ""},
    "restarted_after": {"type": "int", "default": 0},
    "timeout": {"type": "int", "default": 300},
    "poll_interval": {"type": "float", "default": 2.0},
    "docker_host": {"type": "str", "default": DEFAULT_DOCKER_HOST},
}


def wait(
    params: dict, check_mode: bool, client_factory=connect, now=time.monotonic, sleep=time.sleep
) -> dict:
    """Poll until ready or timed out; every engine error counts as 'not yet' until the deadline."""
    started = now()
    version = params["version"] or None
    verdict, last_error, api = None, "", None
    while True:
        try:
            if api is None:
                api = client_factory(params["docker_host"])
            verdict = evaluate(api.nodes() or [], params["node"], version, params.get("restarted_after") or 0)
            last_error = ""
        except DockerException as exc:  # restarting engine, election in progress (503), socket gone
            last_error = error_text(exc)
            api = None
        elapsed = round(now() - started, 3)
        ready = bool(verdict and verdict.ready and not last_error)
        result = {
            "changed": False,
            "ready": ready,
            "node": verdict.node if verdict else {},
            "engine_version": verdict.engine_version if verdict else "",
            "leader": verdict.leader if verdict else "",
            "waiting_for": (verdict.waiting_for if verdict else [])
            + ([f"the engine to answer ({last_error})"] if last_error else []),
            "last_error": last_error,
            "elapsed": elapsed,
        }
        if ready:
            return dict(
                result,
                msg=f"node {params['node']} is back after {elapsed:.0f}s: engine "
                f"{result['engine_version']}, leader {result['leader'] or '-'}",
            )
        if check_mode:
            return dict(
                result,
                msg=f"node {params['node']} is not back yet (check mode does not wait): "
                + "; ".join(result["waiting_for"]),
            )
        if elapsed >= params["timeout"]:
            result["failed"] = True
            return dict(
                result,
                msg=f"node {params['node']} is not back after {params['timeout']}s; still waiting for: "
                + "; ".join(result["waiting_for"])
                + ". Check the engine on that host (systemctl status docker, journalctl -u docker); it stays "
                "drained until a re-run finds it done",
            )
        sleep(params["poll_interval"])


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    # No connection here: an engine that does not answer yet is what wait() waits for.
    require_docker_sdk(module)
    result = wait(module.params, module.check_mode)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
