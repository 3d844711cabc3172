#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Report a Swarm cluster's status: nodes, quorum and services, as data and as a table."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_status
short_description: Report a Swarm cluster's nodes, manager quorum and services, changing nothing
version_added: 0.1.0
description:
  - Read-only. Lists every node (hostname, role, availability, state, the engine release its
    running engine reports, manager reachability, leader), the managers' quorum (reachable against
    the majority needed), and every service (desired against running tasks, image, update state,
    and the failing tasks with the engine's error).
  - Also returns the same as fixed-width table lines, and the problems an operator should look at.
author:
  - flotilla developers
requirements:
  - docker (the Python SDK) >= 5.0
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  docker_host:
    description: The engine to ask; a manager's.
    type: str
    default: unix:///var/run/docker.sock
"""

EXAMPLES = r"""
- name: Read the cluster status from one manager
  flotilla.cluster.swarm_status:
  run_once: true
  register: __status
"""

RETURN = r"""
status:
  description: >-
    nodes (hostname, id, role, availability, state, message, addr, engine_version, leader,
    manager_reachability), quorum (managers, reachable, majority, tolerated_failures, can_lose,
    has_quorum, leader, healthy, unreachable, warnings), services (name, id, mode, image, desired,
    running, converged, update_state, update_message, failing_tasks), engine_versions, problems, healthy.
  returned: success
  type: dict
lines:
  description: The status as table lines.
  returned: success
  type: list
  elements: str
msg:
  description: A one-line verdict.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils.cluster_status import summarize, table_lines
from ansible_collections.flotilla.cluster.plugins.module_utils.docker_client import (
    DEFAULT_DOCKER_HOST,
    engine_errors,
    module_client,
)

ARGUMENT_SPEC = {
    "docker_host": {"type": "str", "default": DEFAULT_DOCKER_HOST},
}


def read_status(api) -> dict:
    return summarize(api.nodes() or [], api.services() or [], api.tasks() or [])


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    api = module_client(module)
    with engine_errors(
        module,
        "read the swarm",
        "Run this on a manager whose engine is up (an unreachable or locked manager cannot answer)",
    ):
        status = read_status(api)
    verdict = (
        "healthy"
        if status["healthy"]
        else f"{len(status['problems'])} problem(s): " + "; ".join(status["problems"])
    )
    module.exit_json(changed=False, status=status, lines=table_lines(status), msg=verdict)


if __name__ == "__main__":
    main()
