from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils import k3s_nodes, k3s_upgrade_plan

NODES = json.loads((Path(__file__).parent / "fixtures" / "k3s_nodes.json").read_text())


def listing(**changes):
    """The fixture with per-node changes: name=(ready, kubelet_version, cordoned)."""
    data = copy.deepcopy(NODES)
    for item in data["items"]:
        change = changes.get(item["metadata"]["name"])
        if change is None:
            continue
        ready, version, cordoned = change
        for condition in item["status"]["conditions"]:
            if condition["type"] == "Ready":
                condition["status"] = "True" if ready else "Unknown"
                condition["reason"] = "KubeletReady" if ready else "NodeStatusUnknown"
        item["status"]["nodeInfo"]["kubeletVersion"] = version
        item.setdefault("spec", {})["unschedulable"] = cordoned
    return data


def test_summary_of_a_server():
    s1 = k3s_nodes.by_name(NODES)["s1"]
    assert s1 == {
        "name": "s1",
        "ready": True,
        "ready_reason": "KubeletReady",
        "kubelet_version": "v1.29.5+k3s1",
        "cordoned": False,
        "etcd": True,
        "control_plane": True,
    }
    assert k3s_nodes.by_name(NODES)["a1"]["etcd"] is False


def test_items_refuses_other_json():
    with pytest.raises(ValueError, match="no items list"):
        k3s_nodes.items({"kind": "PodList"})


@pytest.mark.parametrize(
    ("change", "target", "done", "why"),
    [
        (None, "v1.29.5+k3s1", True, "a1 is Ready on v1.29.5+k3s1"),
        (None, "v1.29.6+k3s1", False, "a1 reports v1.29.5+k3s1, not v1.29.6+k3s1"),
        (
            (False, "v1.29.6+k3s1", False),
            "v1.29.6+k3s1",
            False,
            "a1 runs v1.29.6+k3s1 but is not Ready (NodeStatusUnknown)",
        ),
        ((True, "v1.29.6+k3s1", True), "v1.29.6+k3s1", True, "a1 is Ready on v1.29.6+k3s1"),
    ],
)
def test_node_done(change, target, done, why):
    data = listing(a1=change) if change else NODES
    node = next(i for i in data["items"] if i["metadata"]["name"] == "a1")
    assert k3s_nodes.node_done(node, target) == (done, why)


@pytest.mark.parametrize(
    ("changes", "leaving", "refused"),
    [
        ({}, "s1", None),
        ({}, "a1", None),
        ({"s2": (False, "v1.29.5+k3s1", False)}, "s1", "only 1 would remain Ready (s3); not Ready: s2"),
        ({"s2": (False, "v1.29.5+k3s1", False)}, "s2", None),
        ({}, "nope", "nope is not a node of this cluster"),
    ],
)
def test_etcd_guard(changes, leaving, refused):
    result = k3s_nodes.etcd_guard(listing(**changes), leaving)
    assert result == refused if refused is None else refused in result


def _single_server():
    data = copy.deepcopy(NODES)
    data["items"] = [i for i in data["items"] if i["metadata"]["name"] in ("s1", "a1")]
    return data


def test_a_single_server_needs_consent():
    assert "single server has no quorum to spare" in k3s_nodes.etcd_guard(_single_server(), "s1")
    assert k3s_nodes.etcd_guard(_single_server(), "s1", allow_single_server=True) is None


SERVERS, AGENTS = ["s1", "s2", "s3"], ["a1", "a2"]


def test_plan_servers_one_by_one_then_agents_in_batches():
    result = k3s_upgrade_plan.plan(SERVERS, AGENTS, NODES, "v1.29.6+k3s1", batch_size=2)
    assert result["errors"] == []
    assert [b["nodes"] for b in result["batches"]] == [["s1"], ["s2"], ["s3"], ["a1", "a2"]]
    assert result["lines"][0] == "5 node(s) to upgrade to v1.29.6+k3s1 in 4 batch(es)"


def test_plan_resumes_skipping_done_nodes_and_uncordoning_a_stopped_one():
    data = listing(s1=(True, "v1.29.6+k3s1", False), s2=(True, "v1.29.6+k3s1", True))
    result = k3s_upgrade_plan.plan(SERVERS, AGENTS, data, "v1.29.6+k3s1")
    assert [b["nodes"] for b in result["batches"]] == [["s3"], ["a1"], ["a2"]]
    assert [s["name"] for s in result["skipped"]] == ["s1", "s2"]
    assert result["uncordon"] == ["s2"]


@pytest.mark.parametrize(
    ("changes", "target", "message"),
    [
        ({}, "v1.31.0+k3s1", "s1: v1.29.5+k3s1 -> v1.31.0+k3s1 skips minor release(s) 1.30"),
        ({}, "v1.29.4+k3s1", "do not downgrade"),
        ({"a2": (False, "v1.29.5+k3s1", False)}, "v1.29.6+k3s1", "a2 is not Ready (NodeStatusUnknown)"),
    ],
)
def test_plan_refusals(changes, target, message):
    result = k3s_upgrade_plan.plan(SERVERS, AGENTS, listing(**changes), target)
    assert result["batches"] == [] and any(message in e for e in result["errors"]), result["errors"]


def test_plan_refuses_an_inventory_host_that_is_not_a_node():
    result = k3s_upgrade_plan.plan(SERVERS, AGENTS + ["a9"], NODES, "v1.29.6+k3s1")
    assert result["errors"] == [
        "a9 is in the inventory but not a node of the cluster: run k3s.yml to join it first"
    ]
