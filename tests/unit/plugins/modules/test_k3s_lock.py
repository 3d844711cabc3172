"""k3s_lock against a scripted kubectl: the ConfigMap's life follows cluster_lock's decisions."""

from __future__ import annotations

import json

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils import cluster_lock
from ansible_collections.flotilla.cluster.plugins.modules.k3s_lock import LockError, run


class FakeKubectl:
    """Keeps one ConfigMap's data like the API server: create refuses an existing name."""

    def __init__(self, lock=None):
        self.data = None if lock is None else {"lock": lock}
        self.calls = []

    def __call__(self, args):
        self.calls.append(args[2])
        verb = args[2]
        if verb == "get":
            if self.data is None:
                return 1, "", 'Error from server (NotFound): configmaps "flotilla-lock" not found'
            return 0, json.dumps({"kind": "ConfigMap", "data": self.data}), ""
        if verb == "delete":
            self.data = None
            return 0, "", ""
        if verb == "create":
            if self.data is not None:
                return 1, "", 'Error from server (AlreadyExists): configmaps "flotilla-lock" already exists'
            self.data = {"lock": args[-1].split("=", 2)[2]}  # --from-literal=lock=<json>
            return 0, "configmap/flotilla-lock created", ""
        raise AssertionError(args)


def params(**kw):
    owner = {"user": "u", "host": "h", "pid": 1}
    base = {
        "state": "present",
        "run_id": "r1",
        "owner": owner,
        "purpose": "up",
        "stale_after": 7200,
        "break_lock": False,
    }
    return {**base, **kw}


def held_by(run_id, started):
    return cluster_lock.encode(
        cluster_lock.lock_data(run_id, {"user": "o", "host": "c", "pid": 9}, "up", started)
    ).decode()


def test_take_then_keep_then_release():
    kubectl = FakeKubectl()
    assert run(kubectl, params(), False, now=lambda: 100.0)["action"] == "create"
    assert json.loads(kubectl.data["lock"])["run_id"] == "r1"
    assert run(kubectl, params(), False, now=lambda: 110.0)["action"] == "keep"
    assert run(kubectl, params(state="absent"), False, now=lambda: 120.0)["action"] == "remove"
    assert kubectl.data is None


def test_another_runs_lock_is_refused_with_owner_and_age():
    kubectl = FakeKubectl(held_by("r0", 0.0))
    with pytest.raises(LockError, match=r"o@c \(pid 9\), run r0, held for 2h00m.*stale"):
        run(kubectl, params(), False, now=lambda: 7200.0)
    assert "create" not in kubectl.calls


def test_break_lock_replaces_it():
    kubectl = FakeKubectl(held_by("r0", 0.0))
    assert run(kubectl, params(break_lock=True), False, now=lambda: 10.0)["action"] == "replace"
    assert json.loads(kubectl.data["lock"])["run_id"] == "r1"


def test_check_mode_writes_nothing():
    kubectl = FakeKubectl()
    assert run(kubectl, params(), True, now=lambda: 1.0)["changed"] is True
    assert kubectl.data is None and kubectl.calls == ["get"]


def test_an_unreadable_lock_names_the_kubectl_command():
    with pytest.raises(LockError, match="k3s kubectl -n kube-system get configmap flotilla-lock -o yaml"):
        run(FakeKubectl("not json"), params(), False, now=lambda: 1.0)
