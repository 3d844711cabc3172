# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""A scripted Swarm engine behind a mocked docker.APIClient, and a fake clock.

The mock has the real APIClient's spec, so a call to a method docker-py lacks fails the test.
Tests describe how the service evolves with ``on_poll(engine, now)``, called at every
``inspect_service``, and react to writes through ``on_create``/``on_update``/``on_rollback``.
Every POST is recorded in ``engine.posts`` as (path, params, body).
"""

from __future__ import annotations

import contextlib
import copy
import json
from unittest import mock

import docker
from ansible.module_utils.testing import patch_module_args
from ansible_collections.flotilla.cluster.plugins.module_utils import docker_client
from docker.errors import APIError, NotFound

NANO = 1_000_000_000


def _filtered(items, filters):
    """The engine's secret/config list filters: name and id both match prefixes."""
    if "id" in filters:
        return [i for i in items if i["ID"].startswith(filters["id"])]
    return [i for i in items if i["Spec"]["Name"].startswith(filters["name"])]


class FakeClock:
    def __init__(self, start: float = 1000.0):
        self.t = start
        self.sleeps = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def elapsed(self, since: float = 1000.0) -> float:
        return self.t - since


def node(
    node_id,
    hostname=None,
    role="worker",
    state="ready",
    availability="active",
    reachable=True,
    leader=False,
    addr=None,
    labels=None,
    version=10,
):
    data = {
        "ID": node_id,
        "Version": {"Index": version},
        "Description": {"Hostname": hostname or node_id},
        "Spec": {"Role": role, "Availability": availability, "Labels": dict(labels or {})},
        "Status": {"State": state, "Addr": addr or f"10.0.0.{abs(hash(node_id)) % 200 + 1}"},
    }
    if role == "manager":
        data["ManagerStatus"] = {
            "Reachability": "reachable" if reachable else "unreachable",
            "Leader": leader,
        }
    return data


def task(
    task_id,
    service_id="svc1",
    slot=1,
    node_id="n1",
    state="running",
    desired="running",
    err="",
    message="",
    version=1,
    image="app:1",
):
    return {
        "ID": task_id,
        "ServiceID": service_id,
        "Slot": slot,
        "NodeID": node_id,
        "DesiredState": desired,
        "Version": {"Index": version},
        "Spec": {"ContainerSpec": {"Image": image}},
        "Status": {"State": state, "Err": err, "Message": message or state},
    }


def service_spec(name="web", image="app:1", replicas=2, update_config=None, **extra):
    spec = {
        "Name": name,
        "Labels": {},
        "TaskTemplate": {"ContainerSpec": {"Image": image}, "ForceUpdate": 0},
        "Mode": {"Replicated": {"Replicas": replicas}},
        "EndpointSpec": {"Mode": "vip"},
    }
    if update_config is not None:
        spec["UpdateConfig"] = update_config
    spec.update(extra)
    return spec


class FakeEngine:
    def __init__(self, clock: FakeClock, nodes=None):
        self.clock = clock
        self.service = None
        self.tasks = []
        self.current_ids = set()
        self.nodes = (
            nodes if nodes is not None else [node("n1", "m1", role="manager", leader=True), node("n2", "w1")]
        )
        self.digests = {}
        self.local_images = {}
        self.networks = {}
        self.secrets = []
        self.configs = []
        self.posts = []
        self.node_updates = []
        self.on_poll = None
        self.on_create = None
        self.on_update = None
        self.on_rollback = None
        self.manager = True

        api = mock.MagicMock(spec=docker.APIClient)
        api._url.side_effect = lambda path, *args, **kwargs: path.format(*args)
        api._post_json.side_effect = self._post_json
        api._result.side_effect = lambda response, json=False, binary=False: response
        api.inspect_service.side_effect = self._inspect_service
        api.tasks.side_effect = self._tasks
        api.nodes.side_effect = self._nodes
        api.inspect_node.side_effect = self._inspect_node
        api.update_node.side_effect = self._update_node
        api.remove_service.side_effect = self._remove_service
        api.inspect_distribution.side_effect = self._distribution
        api.inspect_image.side_effect = self._image
        api.inspect_network.side_effect = self._network
        api.secrets.side_effect = lambda filters=None: _filtered(self.secrets, filters)
        api.configs.side_effect = lambda filters=None: _filtered(self.configs, filters)
        self.api = api

    # --- helpers for tests -----------------------------------------------------------------------

    def add_service(self, spec, service_id="svc1", version=5, update_state=None, previous=None):
        self.service = {"ID": service_id, "Version": {"Index": version}, "Spec": copy.deepcopy(spec)}
        if previous is not None:
            self.service["PreviousSpec"] = copy.deepcopy(previous)
        if update_state:
            self.set_update(update_state)
        return self.service

    def set_update(self, state, message=""):
        if state is None:
            self.service.pop("UpdateStatus", None)
        else:
            self.service["UpdateStatus"] = {"State": state, "Message": message or f"update {state}"}

    def set_tasks(self, tasks, current=None):
        """Replace the task list; ``current`` are the IDs on the current spec (default: all)."""
        self.tasks = list(tasks)
        self.current_ids = {t["ID"] for t in tasks} if current is None else set(current)

    def rollback_posts(self):
        return [p for p in self.posts if p[1].get("rollback") == "previous"]

    def update_posts(self):
        return [p for p in self.posts if p[0].endswith("/update") and p[1].get("rollback") != "previous"]

    # --- API side effects ------------------------------------------------------------------------

    def _require_manager(self):
        if not self.manager:
            raise APIError("503 Server Error", explanation="This node is not a swarm manager.")

    def _inspect_service(self, ident, insert_defaults=None):
        self._require_manager()
        if self.service is None or ident not in (self.service["ID"], self.service["Spec"]["Name"]):
            raise NotFound(f"service {ident} not found")
        if self.on_poll is not None:
            self.on_poll(self, self.clock.now())
        return copy.deepcopy(self.service)

    def _tasks(self, filters=None):
        filters = filters or {}
        out = list(self.tasks)
        if "service" in filters:
            out = [t for t in out if t["ServiceID"] == filters["service"]]
        if "node" in filters:
            out = [t for t in out if t["NodeID"] == filters["node"]]
        if filters.get("_up-to-date"):
            out = [t for t in out if t["ID"] in self.current_ids]
        if "desired-state" in filters:
            out = [t for t in out if t["DesiredState"] == filters["desired-state"]]
        return copy.deepcopy(out)

    def _nodes(self, filters=None):
        self._require_manager()
        return copy.deepcopy(self.nodes)

    def _inspect_node(self, node_id):
        return copy.deepcopy(next(n for n in self.nodes if n["ID"] == node_id))

    def _update_node(self, node_id, version, node_spec=None):
        self.node_updates.append((node_id, version, copy.deepcopy(node_spec)))
        for item in self.nodes:
            if item["ID"] == node_id:
                assert item["Version"]["Index"] == version, "update_node must carry the version just read"
                item["Spec"] = copy.deepcopy(node_spec)
                item["Version"]["Index"] += 1
                if node_spec.get("Role") == "worker":
                    item.pop("ManagerStatus", None)
        return True

    def _remove_service(self, service_id):
        self.posts.append((f"/services/{service_id}/remove", {}, None))
        self.service = None
        return True

    def _distribution(self, image, auth_config=None):
        if image in self.digests:
            return {"Descriptor": {"digest": self.digests[image]}}
        raise APIError("500 Server Error", explanation=f"{image}: no registry reachable")

    def _image(self, image):
        if image in self.local_images:
            return {"Id": self.local_images[image]}
        raise NotFound(f"No such image: {image}")

    def _network(self, name, *args, **kwargs):
        if name in self.networks:
            return {"Id": self.networks[name], "Name": name}
        raise NotFound(f"network {name} not found")

    def _post_json(self, path, data=None, params=None, headers=None):
        params = dict(params or {})
        self.posts.append((path, params, copy.deepcopy(data)))
        if path == "/services/create":
            self.service = {"ID": "svc1", "Version": {"Index": 1}, "Spec": copy.deepcopy(data)}
            if self.on_create:
                self.on_create(self)
            return {"ID": "svc1", "Warnings": None}
        assert path == f"/services/{self.service['ID']}/update", path
        assert params["version"] == self.service["Version"]["Index"], (
            "update must carry the version just read"
        )
        self.service["Version"]["Index"] += 1
        if params.get("rollback") == "previous":
            assert self.service.get("PreviousSpec"), "the engine refuses a rollback without a previous spec"
            self.service["Spec"] = self.service.pop("PreviousSpec")
            self.set_update("rollback_started", "manually requested rollback")
            if self.on_rollback:
                self.on_rollback(self)
        else:
            self.service["PreviousSpec"] = self.service["Spec"]
            self.service["Spec"] = copy.deepcopy(data)
            self.set_update(None)
            if self.on_update:
                self.on_update(self)
        return {"Warnings": None}


def run_module(module, args, engine, clock, check_mode=False, diff=False, capsys=None, probe=None):
    """Run ``module.main()`` against the fake engine and clock; returns (result, failed).

    ``probe`` replaces the rollout's network probe function.
    """
    runner_name = "RolloutRunner" if hasattr(module, "RolloutRunner") else "NodeMaintenance"
    real = getattr(module, runner_name)
    extra = {"probe": probe} if probe is not None else {}

    def factory(api, poll_interval=1.0):
        return real(api, now=clock.now, sleep=clock.sleep, poll_interval=poll_interval, **extra)

    full = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with (
        patch_module_args(full),
        mock.patch.object(docker_client, "connect", return_value=engine.api),
        mock.patch.object(module, runner_name, factory),
        contextlib.suppress(SystemExit),
    ):
        module.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    return result, bool(result.get("failed"))
