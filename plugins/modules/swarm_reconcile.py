#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Bring every inventory node's role, availability and labels in line, in one call on a manager."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_reconcile
short_description: Reconcile the role, availability and labels of all listed Swarm nodes at once
version_added: 0.1.0
description:
  - Runs on one manager and reads every node of the swarm once, then updates only the nodes whose
    spec differs from O(nodes). One task round for the whole cluster, instead of one
    M(community.docker.docker_node) call per host.
  - Each node spec is written back whole, with the version just read, so fields the module does not
    manage are kept.
  - Labels are managed per node. A label the inventory stops listing is removed only when flotilla
    set it (recorded in the node label C(org.flotilla.swarm.managed-labels)), or when
    O(exclusive_labels=true), which removes every label not listed.
  - Promotions are applied first and demotions last; a demotion that would cost the managers their
    quorum is refused before anything changes.
  - Nodes of the swarm that O(nodes) does not list are left alone and reported in RV(unmanaged).
author:
  - flotilla developers
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
requirements:
  - Docker SDK for Python (Debian package C(python3-docker))
options:
  nodes:
    description: The wanted state of each node.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Inventory name, used in messages.
        type: str
        required: true
      node_id:
        description: Swarm node ID.
        type: str
        required: true
      role:
        description: Wanted role.
        type: str
        required: true
        choices: [manager, worker]
      availability:
        description: Wanted availability; empty leaves it as it is.
        type: str
        default: ""
        choices: ["", active, pause, drain]
      labels:
        description: Labels the inventory manages on this node; values are turned into strings.
        type: dict
        default: {}
  exclusive_labels:
    description: Remove every node label not listed in O(nodes[].labels), not just those flotilla set.
    type: bool
    default: false
  locked_by:
    description:
      - Who holds the cluster lock, as a sentence (C(swarm_lock state=query) gives it); empty when
        nobody does. When set, any change is refused, naming it and the changes wanted; a run
        that changes nothing passes.
    type: str
    default: ""
  docker_host:
    description: The engine's API address.
    type: str
    default: unix:///var/run/docker.sock
  timeout:
    description: Seconds to wait for each API call.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Reconcile node roles, availability and labels
  flotilla.cluster.swarm_reconcile:
    nodes:
      - {name: m1, node_id: x2y8a1, role: manager, availability: active, labels: {zone: a}}
      - {name: w1, node_id: q0p9c3, role: worker, labels: {zone: b, disk: ssd}}
"""

RETURN = r"""
changes:
  description: Per changed node, what was changed (or would be, in check mode).
  returned: always
  type: dict
  sample: {w1: ["label disk=ssd added", "availability drain -> active"]}
nodes:
  description: Every node of the swarm after the run (before it, in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{id: x2y8a1, hostname: m1, role: manager, availability: active, state: ready,
            reachability: reachable, leader: true, labels: {zone: a}}]
unmanaged:
  description: Hostnames of swarm nodes that O(nodes) does not list; they were left alone.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils.docker_client import (
    DEFAULT_DOCKER_HOST,
    engine_errors,
    module_client,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_nodes import (
    DesiredNode,
    PlanError,
    locked_refusal,
    node_summary,
    plan_nodes,
)

MANAGER_ADVICE = "Run this on a manager of a healthy swarm"


def main():
    module = AnsibleModule(
        argument_spec={
            "nodes": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "name": {"type": "str", "required": True},
                    "node_id": {"type": "str", "required": True},
                    "role": {"type": "str", "required": True, "choices": ["manager", "worker"]},
                    "availability": {
                        "type": "str",
                        "default": "",
                        "choices": ["", "active", "pause", "drain"],
                    },
                    "labels": {"type": "dict", "default": {}},
                },
            },
            "exclusive_labels": {"type": "bool", "default": False},
            "locked_by": {"type": "str", "default": ""},
            "docker_host": {"type": "str", "default": DEFAULT_DOCKER_HOST},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    client = module_client(module, timeout=module.params["timeout"])
    desired = [DesiredNode(**node) for node in module.params["nodes"]]
    with engine_errors(module, "read the swarm's nodes", MANAGER_ADVICE):
        nodes = client.nodes()
    try:
        plan = plan_nodes(nodes, desired, module.params["exclusive_labels"])
    except PlanError as error:
        module.fail_json(msg=str(error))

    refusal = locked_refusal(plan, module.params["locked_by"])
    if refusal:
        module.fail_json(msg=refusal, changes={u.name: u.changes for u in plan.updates})
    for warning in plan.warnings:
        module.warn(warning)
    if not module.check_mode:
        for done, update in enumerate(plan.updates):
            with engine_errors(
                module,
                f"update node {update.name}",
                "The nodes before it in 'changes' were updated: re-run to finish",
                changes={u.name: u.changes for u in plan.updates[:done]},
            ):
                client.update_node(update.node_id, update.version, update.spec)
        if plan.updates:
            with engine_errors(module, "read the swarm's nodes after updating them", MANAGER_ADVICE):
                nodes = client.nodes()

    result = {
        "changed": bool(plan.updates),
        "changes": {update.name: update.changes for update in plan.updates},
        "nodes": sorted((node_summary(node) for node in nodes), key=lambda n: n["hostname"]),
        "unmanaged": plan.unmanaged,
    }
    if module._diff:
        result["diff"] = {
            "before": {update.name: update.before for update in plan.updates},
            "after": {update.name: update.after for update in plan.updates},
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
