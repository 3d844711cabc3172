#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Plan a k3s rolling upgrade, guard etcd quorum before a server goes down, wait for a node's return."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k3s_upgrade_plan
short_description: Plan a k3s rolling upgrade, check etcd quorum before each server, wait for upgraded nodes
version_added: 0.1.0
description:
  - Runs on a k3s server and reads the nodes with C(k3s kubectl get nodes -o json) (O(kubectl)).
  - Without O(node), returns the plan - servers one at a time, then agents in batches of
    O(batch_size) - and fails, listing every reason, when the target skips a minor release or
    is older than a node, an inventory host is not a node, or a node is not Ready. Nodes already
    Ready on the target are skipped, so a re-run resumes.
  - With O(node) and O(wait=false), fails unless that node may go down now (for an etcd member,
    the other Ready members must still be a majority).
  - With O(node) and O(wait=true), waits up to O(timeout) seconds until the node's kubelet reports
    O(target_version) and the node is Ready.
author:
  - flotilla developers
attributes:
  check_mode:
    support: full
    details: Only reads; the plan is the point of check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  target_version:
    description: The k3s release to upgrade to, such as C(v1.29.6+k3s1).
    type: str
    required: true
  servers:
    description: The inventory's servers, in order.
    type: list
    elements: str
    default: []
  agents:
    description: The inventory's agents, in order.
    type: list
    elements: str
    default: []
  batch_size:
    description: Agents per batch, a count or a percentage such as C(30%).
    type: str
    default: "1"
  node:
    description: The node to guard or wait for; unset for the plan.
    type: str
  wait:
    description: With O(node), wait for it to report the target and be Ready instead of guarding it.
    type: bool
    default: false
  timeout:
    description: Seconds to wait with O(wait=true).
    type: int
    default: 600
  allow_single_server:
    description: Let the only server of a one-server cluster go down (the API is unavailable meanwhile).
    type: bool
    default: false
  kubectl:
    description: The command that runs kubectl against this server's cluster.
    type: list
    elements: str
    default: [k3s, kubectl]
"""

EXAMPLES = r"""
- name: Plan the upgrade
  flotilla.cluster.k3s_upgrade_plan:
    target_version: v1.29.6+k3s1
    servers: "{{ groups['k3s_servers'] }}"
    agents: "{{ groups['k3s_agents'] }}"
    batch_size: "30%"
  register: plan

- name: Check that etcd keeps its quorum without this server
  flotilla.cluster.k3s_upgrade_plan:
    target_version: v1.29.6+k3s1
    node: server-2
"""

RETURN = r"""
plan:
  description: batches (number, role, nodes), skipped (name, role, reason), uncordon, lines.
  returned: without node
  type: dict
node:
  description: The node's summary (ready, kubelet_version, cordoned, etcd) as last read.
  returned: with node
  type: dict
msg:
  description: What was decided, or why the upgrade or this node's turn is refused.
  returned: always
  type: str
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils import k3s_nodes, k3s_upgrade_plan
from ansible_collections.flotilla.cluster.plugins.module_utils.k3s_versions import validate_k3s_version

ARGUMENT_SPEC = {
    "target_version": {"type": "str", "required": True},
    "servers": {"type": "list", "elements": "str", "default": []},
    "agents": {"type": "list", "elements": "str", "default": []},
    "batch_size": {"type": "str", "default": "1"},
    "node": {"type": "str"},
    "wait": {"type": "bool", "default": False},
    "timeout": {"type": "int", "default": 600},
    "allow_single_server": {"type": "bool", "default": False},
    "kubectl": {"type": "list", "elements": "str", "default": ["k3s", "kubectl"]},
}


def _nodes(module):
    rc, out, err = module.run_command([*module.params["kubectl"], "get", "nodes", "-o", "json"])
    if rc != 0:
        raise RuntimeError(f"kubectl get nodes failed (rc {rc}): {err.strip() or out.strip()}")
    return json.loads(out)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        target = validate_k3s_version(params["target_version"])
        if not params["node"]:
            result = k3s_upgrade_plan.plan(
                params["servers"], params["agents"], _nodes(module), target, params["batch_size"]
            )
            if result["errors"]:
                module.fail_json(msg="the upgrade cannot start: " + "; ".join(result["errors"]), plan=result)
            module.exit_json(changed=False, plan=result, msg="\n".join(result["lines"]))
        if not params["wait"]:
            listing = _nodes(module)
            problem = k3s_nodes.etcd_guard(listing, params["node"], params["allow_single_server"])
            node = k3s_nodes.by_name(listing).get(params["node"], {})
            if problem:
                module.fail_json(msg=problem, node=node)
            module.exit_json(
                changed=False, node=node, msg=f"{params['node']} may go down: etcd keeps its quorum"
            )
        deadline = time.monotonic() + params["timeout"]
        why = ""
        while True:
            listing = _nodes(module)
            match = [
                n for n in k3s_nodes.items(listing) if (n.get("metadata") or {}).get("name") == params["node"]
            ]
            if match:
                done, why = k3s_nodes.node_done(match[0], target)
                if done:
                    module.exit_json(changed=False, node=k3s_nodes.summary(match[0]), msg=why)
            else:
                why = f"{params['node']} is not listed among the nodes"
            if time.monotonic() > deadline:
                module.fail_json(
                    msg=f"gave up after {params['timeout']}s: {why}. The node stays cordoned; "
                    "look at its k3s service log (journalctl -u k3s or k3s-agent), then re-run"
                )
            time.sleep(5)
    except (RuntimeError, ValueError) as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
