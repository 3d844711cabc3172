# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The plan of a k3s rolling upgrade: which nodes to roll, in which batches, and what is refused.

Input: the inventory's servers and agents, the cluster's ``kubectl get nodes -o json``, the
target release and the agents' batch size. Refused before any node is touched: a target that
skips a minor release or is older than a node (no downgrades), an inventory host that is not a
node, a node that is not Ready (it cannot be drained and brought back safely). Nodes already
Ready on the target are skipped, so a re-run resumes; a node on the target but still cordoned (a
stopped run) is listed to be uncordoned. Ordering and batching are batching.plan_upgrade's:
servers one at a time, then agents in batches. Pure, Python 3.9 syntax.
"""

from __future__ import annotations

from ansible_collections.flotilla.cluster.plugins.module_utils import k3s_nodes
from ansible_collections.flotilla.cluster.plugins.module_utils.batching import PlanNode, plan_upgrade
from ansible_collections.flotilla.cluster.plugins.module_utils.k3s_versions import (
    upgrade_step_error,
    validate_k3s_version,
    version_reached,
)


def plan(servers, agents, listing, target, batch_size=1) -> dict:
    """{"errors", "batches", "skipped", "uncordon", "lines"}: errors mean nothing may start."""
    target = validate_k3s_version(target)
    nodes = k3s_nodes.by_name(listing)
    errors: list[str] = []
    pending: list[PlanNode] = []
    skipped: list[dict] = []
    uncordon: list[str] = []
    for role, hosts in (("server", servers), ("agent", agents)):
        for host in hosts:
            node = nodes.get(host)
            if node is None:
                errors.append(
                    f"{host} is in the inventory but not a node of the cluster: run k3s.yml to join it first"
                )
                continue
            current = node["kubelet_version"]
            try:
                problem = upgrade_step_error(current, target)
            except ValueError as exc:
                errors.append(f"{host}: {exc}")
                continue
            if problem:
                errors.append(f"{host}: {problem}")
                continue
            if version_reached(current, target) and node["ready"]:
                skipped.append({"name": host, "role": role, "reason": f"already Ready on {target}"})
                if node["cordoned"]:
                    uncordon.append(host)
                continue
            if not node["ready"]:
                errors.append(
                    f"{host} is not Ready ({node['ready_reason']}): a node that is down cannot be drained "
                    "and upgraded safely; bring it back first"
                )
                continue
            pending.append(PlanNode(host, role))
    if errors:
        return {"errors": errors, "batches": [], "skipped": skipped, "uncordon": uncordon, "lines": errors}
    ordered = plan_upgrade(pending, batch_size).as_dict()
    lines = [
        f"{len(ordered['pending'])} node(s) to upgrade to {target} in {len(ordered['batches'])} batch(es)"
    ]
    lines += [f"batch {b['number']} ({b['role']}): {', '.join(b['nodes'])}" for b in ordered["batches"]]
    lines += [f"skip {s['name']} ({s['role']}): {s['reason']}" for s in skipped]
    lines += [f"uncordon {name}: done, but left cordoned by a stopped run" for name in uncordon]
    lines += [f"warning: {w}" for w in ordered["warnings"]]
    return {
        "errors": [],
        "batches": ordered["batches"],
        "skipped": skipped,
        "uncordon": uncordon,
        "lines": lines,
    }
