# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""docker_client against a MagicMock with the APIClient's spec: which URL, params and body go out."""

from __future__ import annotations

from unittest import mock

import docker
import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils import docker_client
from docker.errors import APIError, NotFound


@pytest.fixture
def api():
    client = mock.MagicMock(spec=docker.APIClient)
    client._url.side_effect = lambda path, *args: path.format(*args)
    client._post_json.return_value = "response"
    client._result.return_value = {"Warnings": ["w"]}
    return client


def test_update_service_posts_the_whole_spec_with_its_version(api):
    answer = docker_client.update_service(api, "svc", 7, {"Name": "web"}, registry_auth="abc")
    api._post_json.assert_called_once_with(
        "/services/svc/update",
        data={"Name": "web"},
        params={"version": 7},
        headers={"X-Registry-Auth": "abc"},
    )
    api._result.assert_called_once_with("response", json=True)
    assert answer == {"Warnings": ["w"]}


def test_update_service_without_auth_reads_it_from_the_spec(api):
    docker_client.update_service(api, "svc", 7, {})
    assert api._post_json.call_args.kwargs["params"] == {"version": 7, "registryAuthFrom": "spec"}


def test_rollback_is_server_side(api):
    docker_client.update_service(api, "svc", 8, {"Name": "web"}, registry_auth="ignored", rollback=True)
    kwargs = api._post_json.call_args.kwargs
    assert kwargs["params"] == {"version": 8, "rollback": "previous", "registryAuthFrom": "previous-spec"}
    assert kwargs["headers"] == {}


def test_create_service(api):
    api._result.return_value = {"ID": "new", "Warnings": None}
    assert docker_client.create_service(api, {"Name": "web"})["ID"] == "new"
    api._post_json.assert_called_once_with("/services/create", data={"Name": "web"}, headers={})


def test_find_service_checks_the_name(api):
    api.inspect_service.return_value = {"ID": "web123", "Spec": {"Name": "web"}}
    assert docker_client.find_service(api, "web")["ID"] == "web123"
    # the engine matched an ID prefix of another service: not ours
    assert docker_client.find_service(api, "we") is None
    api.inspect_service.side_effect = NotFound("gone")
    assert docker_client.find_service(api, "web") is None


def test_registry_digest(api):
    api.inspect_distribution.return_value = {"Descriptor": {"digest": "sha256:x"}}
    assert docker_client.registry_digest(api, "app:1") == ("sha256:x", "")
    api.inspect_distribution.return_value = {"Descriptor": {}}
    assert docker_client.registry_digest(api, "app:1") == (None, "the registry returned no digest")
    api.inspect_distribution.side_effect = APIError("500", explanation="dial tcp: no route to host")
    assert docker_client.registry_digest(api, "app:1") == (None, "dial tcp: no route to host")


def test_local_image_id(api):
    api.inspect_image.return_value = {"Id": "sha256:l"}
    assert docker_client.local_image_id(api, "app:1") == "sha256:l"
    api.inspect_image.side_effect = NotFound("no such image")
    assert docker_client.local_image_id(api, "app:1") is None


def test_lookup_ids_exact_names_only(api):
    api.secrets.return_value = [
        {"ID": "s1", "Spec": {"Name": "db_password_old"}},
        {"ID": "s2", "Spec": {"Name": "db"}},
    ]
    api.configs.return_value = []
    api.inspect_network.side_effect = lambda name: (
        {"Id": "net-" + name} if name == "front" else (_ for _ in ()).throw(NotFound(name))
    )
    assert docker_client.lookup_ids(api, "secret", ["db"]) == ({"db": "s2"}, [])
    api.secrets.return_value = [{"ID": "s1", "Spec": {"Name": "db_password_old"}}]
    assert docker_client.lookup_ids(api, "secret", ["db_password"]) == ({}, ["db_password"])
    assert docker_client.lookup_ids(api, "config", ["c"]) == ({}, ["c"])
    assert docker_client.lookup_ids(api, "network", ["front", "back"]) == ({"front": "net-front"}, ["back"])


def test_service_tasks_uses_the_up_to_date_filter(api):
    api.tasks.side_effect = [[{"ID": "a"}, {"ID": "b"}], [{"ID": "b"}]]
    tasks, current = docker_client.service_tasks(api, "svc")
    assert [t["ID"] for t in tasks] == ["a", "b"] and current == {"b"}
    assert api.tasks.call_args_list == [
        mock.call(filters={"service": "svc"}),
        mock.call(filters={"service": "svc", "_up-to-date": "true"}),
    ]


def test_error_text_prefers_the_engine_explanation():
    assert docker_client.error_text(APIError("500 Server Error", explanation="update out of sequence")) == (
        "update out of sequence"
    )
    assert docker_client.error_text(ValueError("plain")) == "plain"


def test_registry_auth_header(api):
    with mock.patch.object(docker_client.docker_auth, "get_config_header", return_value="hdr") as header:
        assert docker_client.registry_auth_header(api, "registry.example.com/app:1") == "hdr"
    header.assert_called_once_with(api, "registry.example.com")


def test_connect_negotiates_the_api_version():
    with mock.patch.object(docker_client.docker, "APIClient") as client:
        docker_client.connect("tcp://m1:2376")
    client.assert_called_once_with(base_url="tcp://m1:2376", version="auto", timeout=60)


class ModuleFailed(Exception):
    """What AnsibleModule.fail_json does: it never returns."""


class FakeModule:
    def __init__(self, **params):
        self.params = params
        self.failed = None

    def fail_json(self, **result):
        self.failed = result
        raise ModuleFailed(result["msg"])


def test_module_client_connects_to_the_docker_host_option():
    module = FakeModule(docker_host="tcp://m1:2376")
    with mock.patch.object(docker_client, "connect", return_value="api") as connect:
        assert docker_client.module_client(module, timeout=5) == "api"
    connect.assert_called_once_with("tcp://m1:2376", 5)


def test_module_client_names_the_engine_and_what_to_do():
    module = FakeModule(docker_host="tcp://m1:2376")
    refused = docker.errors.DockerException("Error while fetching server API version: connection refused")
    with mock.patch.object(docker_client, "connect", side_effect=refused), pytest.raises(ModuleFailed):
        docker_client.module_client(module)
    assert module.failed["msg"] == (
        "cannot reach the Docker engine at tcp://m1:2376: Error while fetching server API version: "
        "connection refused. Run this on a Swarm manager whose engine is up, or set docker_host"
    )


def test_module_client_without_the_sdk_fails_the_ansible_way(monkeypatch):
    module = FakeModule(docker_host="unix:///var/run/docker.sock")
    monkeypatch.setattr(docker_client, "HAS_DOCKER", False)
    monkeypatch.setattr(docker_client, "DOCKER_IMPORT_ERROR", "Traceback: No module named 'docker'")
    with mock.patch.object(docker_client, "connect") as connect, pytest.raises(ModuleFailed):
        docker_client.module_client(module)
    connect.assert_not_called()
    assert "Failed to import the required Python library (docker)" in module.failed["msg"]
    assert "python3-docker" in module.failed["msg"]
    assert module.failed["exception"] == "Traceback: No module named 'docker'"


def test_require_docker_sdk_passes_when_present():
    module = FakeModule()
    docker_client.require_docker_sdk(module)
    assert module.failed is None


def test_engine_errors_fail_with_the_engine_words_and_extra_results():
    module = FakeModule(docker_host="unix:///x.sock")
    with (
        pytest.raises(ModuleFailed),
        docker_client.engine_errors(module, "update node w1", "Re-run.", done=["m1"]),
    ):
        raise APIError("503 Server Error", explanation="swarm is encrypted and needs to be unlocked")
    assert module.failed == {
        "msg": "cannot update node w1 through unix:///x.sock: swarm is encrypted and needs to be unlocked. "
        "Re-run.",
        "done": ["m1"],
    }


def test_engine_errors_default_advice_and_other_exceptions_pass_through():
    module = FakeModule(docker_host="unix:///x.sock")
    with pytest.raises(ModuleFailed), docker_client.engine_errors(module, "read the swarm"):
        raise docker.errors.DockerException("socket closed")
    assert module.failed["msg"].endswith(
        "socket closed. Run this on a Swarm manager whose engine is up, or set docker_host"
    )
    with pytest.raises(KeyError), docker_client.engine_errors(module, "read the swarm"):
        raise KeyError("not the engine's")
    with docker_client.engine_errors(module, "read the swarm"):
        value = 1
    assert value == 1


def test_lookup_ids_finds_secrets_and_configs_by_exact_id(api):
    stored = [{"ID": "abc123", "Spec": {"Name": "db_password"}}, {"ID": "abc1234", "Spec": {"Name": "other"}}]

    def listing(filters):
        # the engine's filters: name and id both match prefixes
        if "id" in filters:
            return [s for s in stored if s["ID"].startswith(filters["id"])]
        return [s for s in stored if s["Spec"]["Name"].startswith(filters["name"])]

    api.secrets.side_effect = listing
    api.configs.side_effect = listing
    assert docker_client.lookup_ids(api, "secret", ["abc123"]) == ({"abc123": "abc123"}, [])
    assert docker_client.lookup_ids(api, "config", ["db_password"]) == ({"db_password": "abc123"}, [])
    # a prefix of an ID is not an ID
    assert docker_client.lookup_ids(api, "secret", ["abc"]) == ({}, ["abc"])
