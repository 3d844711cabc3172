# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Readiness, version and etcd-quorum decisions over ``kubectl get nodes -o json`` output.

The shapes are those of the Kubernetes core/v1 Node object: ``status.conditions`` (type Ready,
status "True"), ``status.nodeInfo.kubeletVersion``, ``spec.unschedulable`` (cordoned), and the
role labels k3s sets on servers (``node-role.kubernetes.io/control-plane``, ``.../etcd`` with the
value "true"). Pure, Python 3.9 syntax.
"""

from __future__ import annotations

from ansible_collections.flotilla.cluster.plugins.module_utils.k3s_versions import version_reached
from ansible_collections.flotilla.cluster.plugins.module_utils.quorum import majority

ETCD_LABEL = "node-role.kubernetes.io/etcd"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


def items(listing) -> list[dict]:
    """The Node objects of a ``kubectl get nodes -o json`` document (a List) or a single Node."""
    if not isinstance(listing, dict):
        raise ValueError("expected the JSON of kubectl get nodes -o json (an object)")
    if listing.get("kind") == "Node":
        return [listing]
    found = listing.get("items")
    if not isinstance(found, list):
        raise ValueError("kubectl's JSON has no items list: was it `kubectl get nodes -o json`?")
    return found


def summary(node: dict) -> dict:
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    labels = meta.get("labels") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    return {
        "name": meta.get("name", ""),
        "ready": ready.get("status") == "True",
        "ready_reason": ready.get("reason")
        or ready.get("message")
        or ("no Ready condition" if not ready else ""),
        "kubelet_version": (status.get("nodeInfo") or {}).get("kubeletVersion", ""),
        "cordoned": bool((node.get("spec") or {}).get("unschedulable")),
        "etcd": labels.get(ETCD_LABEL) == "true",
        "control_plane": labels.get(CONTROL_PLANE_LABEL) == "true",
    }


def by_name(listing) -> dict[str, dict]:
    return {s["name"]: s for s in (summary(n) for n in items(listing))}


def node_done(node: dict, target: str) -> tuple[bool, str]:
    """Is this node upgraded: Ready, and its kubelet reports exactly ``target``? (verdict, why not)."""
    info = summary(node)
    if not version_reached(info["kubelet_version"], target):
        return False, f"{info['name']} reports {info['kubelet_version'] or 'no version'}, not {target}"
    if not info["ready"]:
        return False, f"{info['name']} runs {target} but is not Ready ({info['ready_reason']})"
    return True, f"{info['name']} is Ready on {target}"


def etcd_guard(listing, leaving: str, allow_single_server: bool = False) -> str | None:
    """Why ``leaving`` (a server) must not go down now, or None when etcd keeps its quorum.

    The etcd members are the nodes labelled as etcd; a member counts as up only when Ready. The
    members other than ``leaving`` that are up must still be a majority of all members.
    """
    nodes = by_name(listing)
    members = [n for n in nodes.values() if n["etcd"]]
    if leaving not in nodes:
        return f"{leaving} is not a node of this cluster"
    if not nodes[leaving]["etcd"]:
        return None
    total = len(members)
    if total == 1 and allow_single_server:
        return None  # the operator accepted that the API is down while the only server restarts
    need = majority(total)
    up_after = [n["name"] for n in members if n["ready"] and n["name"] != leaving]
    if len(up_after) < need:
        down = sorted(n["name"] for n in members if not n["ready"])
        return (
            f"{leaving} must not go down now: etcd has {total} member(s) and needs {need} up, but only "
            f"{len(up_after)} would remain Ready ({', '.join(up_after) or 'none'})"
            + (f"; not Ready: {', '.join(down)}" if down else "")
            + (
                ". A single server has no quorum to spare: set k3s_upgrade_allow_single_server: true "
                "to accept the API being down while it restarts"
                if total == 1
                else ". Bring the other servers back first"
            )
        )
    return None
