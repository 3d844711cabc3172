#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Plan a rolling upgrade of Swarm nodes, or decide whether one node may go down right now."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_upgrade_plan
short_description: Plan a rolling upgrade of Swarm nodes, and check each node's turn against quorum
version_added: 0.1.0
description:
  - Read-only. With O(hosts), decides for every inventory host whether it must be rolled (running
    engine not at O(target_version), changes the docker role held back, pending OS updates, a
    requested reboot), skipped (nothing to do, so re-runs resume) or re-activated (done, but left
    drained by a stopped run), and orders the work - managers one at a time with the leader last,
    then workers in batches of O(batch_size).
  - Refuses to plan (fails, listing every reason) when the swarm is not healthy, a host is not a
    member or is down, roles differ from the inventory, or a node runs a newer engine than the
    target (no downgrades).
  - With O(node), answers whether that node may go down now, from fresh engine data - for a
    manager through the quorum check (the remaining reachable managers must stay a majority).
  - Before answering for O(node), every manager's Raft port (its ManagerStatus address) is probed
    over TCP from this manager, because the engine's view of a manager cut off a moment ago still
    says reachable. A manager counts as reachable only if both agree; the node itself must be
    reachable too (a node that cannot be reached is never rolled).
author:
  - flotilla developers
requirements:
  - docker (the Python SDK) >= 5.0
attributes:
  check_mode:
    support: full
    details: Never changes anything.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  hosts:
    description:
      - The inventory hosts to plan, each C({name, role, node_id, running_version, pending_changes,
        os_updates, reboot_required, availability}). Mutually exclusive with O(node).
      - C(reboot_required) null means the host cannot tell; with O(reboot) the plan refuses such a host.
    type: list
    elements: dict
  target_version:
    description: The upstream engine release X.Y.Z every node must run; empty plans without a version target.
    type: str
    default: ""
  batch_size:
    description: Workers rolled together - a count (C(2)) or a percentage of all workers (C(30%)).
    type: str
    default: "1"
  os_packages:
    description: OS package updates are part of this run.
    type: bool
    default: false
  reboot:
    description: Nodes rolled in this run are rebooted.
    type: bool
    default: false
  node:
    description: Check whether this node (ID or hostname) may go down now. Mutually exclusive with O(hosts).
    type: str
  allow_single_manager:
    description: Let the only manager of a swarm go down (its control plane pauses; tasks keep running).
    type: bool
    default: false
  allow_unmovable_services:
    description:
      - With O(hosts), the plan names every replicated service that cannot run all its replicas
        while a planned batch is drained (placement constraints that only those nodes meet,
        C(max_replicas) per node with too few other eligible nodes); global services are excepted.
        Such a service refuses the plan unless this is true, which turns it into a warning and
        lists it in RV(plan.unmovable).
    type: bool
    default: false
  probe_timeout:
    description: Seconds each live TCP probe of a manager's Raft port may take (with O(node)).
    type: int
    default: 3
  docker_host:
    description: The engine to talk to; a manager's.
    type: str
    default: unix:///var/run/docker.sock
"""

EXAMPLES = r"""
- name: Plan the upgrade from the first manager
  flotilla.cluster.swarm_upgrade_plan:
    hosts:
      - {name: m1, role: manager, node_id: abc, running_version: "20.10.24+dfsg1", pending_changes: []}
      - {name: w1, role: worker, node_id: def, running_version: "20.10.24+dfsg1", pending_changes: []}
    target_version: "26.1.5"
    batch_size: "30%"
  run_once: true
  register: __plan

- name: May this manager go down now?
  flotilla.cluster.swarm_upgrade_plan:
    node: abc
"""

RETURN = r"""
plan:
  description: >-
    With O(hosts) - nodes (per host - decision, reasons, actions, restart_expected, version_before,
    leader, state, availability), batches, pending, managers_pending, workers_pending, reactivate,
    skipped, worker_batch_size, warnings, errors, quorum, unmovable (the services that cannot run
    all their replicas while a batch is drained), lines (the plan as text).
  returned: when hosts is set
  type: dict
step:
  description: >-
    With O(node) - allowed, reason, the quorum decision for a manager, unreachable (hostname ->
    why, for every manager the engine or the live probe could not reach), and record_version (the
    node record's version now, which flotilla.cluster.swarm_node_ready's restarted_after takes).
  returned: when node is set
  type: dict
msg:
  description: A summary; on refusal every reason and what to do.
  returned: always
  type: str
"""

from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils import service_placement
from ansible_collections.flotilla.cluster.plugins.module_utils.docker_client import (
    DEFAULT_DOCKER_HOST,
    engine_errors,
    module_client,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.service_probes import probe_tcp
from ansible_collections.flotilla.cluster.plugins.module_utils.upgrade_plan import (
    UpgradePlanError,
    build_plan,
    check_step,
    manager_addresses,
    plan_lines,
    split_address,
)

ARGUMENT_SPEC = {
    "hosts": {"type": "list", "elements": "dict"},
    "target_version": {"type": "str", "default": ""},
    "batch_size": {"type": "str", "default": "1"},
    "os_packages": {"type": "bool", "default": False},
    "reboot": {"type": "bool", "default": False},
    "node": {"type": "str"},
    "allow_single_manager": {"type": "bool", "default": False},
    "allow_unmovable_services": {"type": "bool", "default": False},
    "probe_timeout": {"type": "int", "default": 3},
    "docker_host": {"type": "str", "default": DEFAULT_DOCKER_HOST},
}


def probe_managers(engine_nodes, timeout: int) -> dict:
    """Node ID -> why, for each manager whose Raft port refuses or ignores a TCP connection now.

    A manager with no usable address counts as unreachable: it cannot be checked, and the quorum
    guard must not take the engine's word alone.
    """
    addresses = manager_addresses(engine_nodes)

    def probe(address):
        try:
            host, port = split_address(address)
        except ValueError as exc:
            return False, str(exc) if address else "the swarm lists no Raft address for it"
        return probe_tcp(host, port, timeout)

    with ThreadPoolExecutor(max_workers=max(1, len(addresses))) as pool:
        answers = dict(zip(addresses, pool.map(probe, addresses.values())))
    return {
        node_id: f"no answer on its Raft port: {detail}"
        for node_id, (ok, detail) in answers.items()
        if not ok
    }


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("hosts", "node")],
        required_one_of=[("hosts", "node")],
    )
    params = module.params
    api = module_client(module)
    with engine_errors(module, "list the swarm's nodes", "Run this on a reachable Swarm manager"):
        nodes = api.nodes() or []
    if params["node"]:
        failures = probe_managers(nodes, params["probe_timeout"])
        step = check_step(nodes, params["node"], params["allow_single_manager"], failures)
        if not step["allowed"]:
            module.fail_json(msg=f"{step['label']} must not go down now: {step['reason']}", step=step)
        module.exit_json(changed=False, step=step, msg=step["reason"])
    try:
        plan = build_plan(
            params["hosts"],
            nodes,
            target_version=params["target_version"] or None,
            batch_size=params["batch_size"],
            os_packages=params["os_packages"],
            reboot=params["reboot"],
        )
    except ValueError as exc:  # UpgradePlanError and bad batch sizes or versions
        kind = "inputs" if isinstance(exc, UpgradePlanError) else "settings"
        module.fail_json(msg=f"cannot plan the upgrade, check the {kind}: {exc}")
    if plan["batches"]:
        with engine_errors(module, "list the swarm's services", "Run this on a reachable Swarm manager"):
            services = api.services() or []
        service_placement.add_to_plan(plan, services, nodes, params["allow_unmovable_services"])
        plan["lines"] = plan_lines(plan)
    if plan["errors"]:
        module.fail_json(msg="the rolling run must not start: " + " | ".join(plan["errors"]), plan=plan)
    module.exit_json(
        changed=False,
        plan=plan,
        msg=plan["lines"][0] if plan["pending"] or plan["reactivate"] else "every node is up to date",
    )


if __name__ == "__main__":
    main()
