#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Swarm node maintenance: drain and wait for the tasks to move, activate, promote or demote safely."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_node
short_description: Drain, activate, promote or demote a Swarm node, waiting for drains and guarding quorum
version_added: 0.1.0
description:
  - Changes a Swarm node's availability and role from a manager, keeping the rest of the node spec
    (labels included). The spec is read, changed and written back with its version.
  - O(state=drain) waits until no task is left running on the node and every service that had a
    task there runs its desired replicas on other nodes. The engine only starts the replacements;
    it does not wait for them.
  - O(role) changes go through a quorum check first. A promotion or demotion that would leave fewer
    than a majority of managers reachable is refused before anything is written.
  - Every result carries the managers' quorum state.
author:
  - flotilla developers
requirements:
  - docker (the Python SDK) >= 5.0
attributes:
  check_mode:
    support: full
    details: Reports the change and the quorum decision; writes nothing and does not wait.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  node:
    description: The node's hostname or ID.
    type: str
    required: true
  state:
    description:
      - Availability. C(drain) moves the tasks away and waits; C(pause) stops new tasks from being
        scheduled; C(active) makes the node schedulable again (tasks are not moved back).
      - Unset leaves the availability as it is.
    type: str
    choices: [active, pause, drain]
  role:
    description:
      - C(manager) promotes, C(worker) demotes; unset leaves the role as it is.
      - With O(state=drain) and O(wait), the role changes only once the drain is complete, and
        quorum is checked again on the node list read then; a drain that times out leaves the
        role as it was.
    type: str
    choices: [manager, worker]
  wait:
    description: After C(drain), wait for the drain to complete.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for a drain to complete.
    type: int
    default: 300
  poll_interval:
    description: Seconds between polls of the engine.
    type: float
    default: 1.0
  unmovable_services:
    description:
      - Services (names) the drain does not wait for to run elsewhere - those no other node can
        run (placement pinned to this node, too few eligible nodes), which the operator accepted
        to stop while the node is drained. Their tasks on the node must still stop.
    type: list
    elements: str
    default: []
  docker_host:
    description: The engine to talk to; a manager's.
    type: str
    default: unix:///var/run/docker.sock
notes:
  - Reactivating a node does not move tasks back onto it.
  - Demoting the manager the module talks to is allowed when quorum permits; the quorum then
    returned is the one read before the change.
"""

EXAMPLES = r"""
- name: Drain a worker before maintenance
  flotilla.cluster.swarm_node:
    node: "{{ inventory_hostname }}"
    state: drain
    timeout: 600
  delegate_to: "{{ groups['swarm_managers'][0] }}"

- name: Make it schedulable again
  flotilla.cluster.swarm_node:
    node: "{{ inventory_hostname }}"
    state: active
  delegate_to: "{{ groups['swarm_managers'][0] }}"

- name: Demote a manager (refused if quorum would break)
  flotilla.cluster.swarm_node:
    node: m3
    role: worker
"""

RETURN = r"""
node:
  description: >-
    The node after the change (id, hostname, role, availability, labels, state,
    manager_reachability, leader).
  returned: always
  type: dict
quorum:
  description: >-
    The managers' quorum state (managers, reachable, majority, tolerated_failures, can_lose,
    has_quorum, leader, healthy, unreachable, warnings); empty if no manager is listed.
  returned: always
  type: dict
quorum_decision:
  description: >-
    The quorum check of a role change (allowed, reason, managers_after, reachable_after,
    majority_needed).
  returned: when the role changes
  type: dict
drain:
  description: >-
    Drain progress: complete, tasks_moved, tasks_remaining, services_short, services, seconds,
    message.
  returned: when state is drain and the module waited
  type: dict
elapsed:
  description: Seconds spent waiting for the drain.
  returned: always
  type: float
msg:
  description: What happened, and on failure what to do next.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils.docker_client import (
    DEFAULT_DOCKER_HOST,
    module_client,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_node_maintenance import (
    NodeError,
    NodeMaintenance,
)

ARGUMENT_SPEC = {
    "node": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["active", "pause", "drain"]},
    "role": {"type": "str", "choices": ["manager", "worker"]},
    "wait": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 300},
    "poll_interval": {"type": "float", "default": 1.0},
    "unmovable_services": {"type": "list", "elements": "str", "default": []},
    "docker_host": {"type": "str", "default": DEFAULT_DOCKER_HOST},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    api = module_client(module)
    params = module.params
    try:
        result = NodeMaintenance(api, poll_interval=params["poll_interval"]).run(params, module.check_mode)
    except NodeError as exc:
        module.fail_json(msg=exc.message, **exc.result)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
