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
