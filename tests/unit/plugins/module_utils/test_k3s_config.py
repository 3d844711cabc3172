"""config.yaml keys against the flags of the pinned k3s release (fixtures/k3s_flags.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.k3s_config import (
    DISABLE_ITEMS,
    FLANNEL_BACKENDS,
    RENDERED_KEYS,
    TOKEN_FILE,
    input_errors,
    registries_errors,
    render_config,
    rewrite_kubeconfig,
)

FLAGS = json.loads((Path(__file__).parent / "fixtures" / "k3s_flags.json").read_text())

EVERYTHING = {
    "cluster_init": True,
    "server_url": "https://10.0.0.1:6443",
    "token_file": True,
    "node_name": "s1",
    "node_ip": "10.0.0.2",
    "advertise_address": "10.0.0.2",
    "tls_san": ["k3s.example.net", "10.0.0.100", "k3s.example.net"],
    "node_labels": {"zone": "a", "example.com/disk": "ssd"},
    "node_taints": ["dedicated=infra:NoSchedule"],
    "disable": ["traefik", "servicelb", "traefik"],
    "flannel_backend": "host-gw",
    "cluster_cidr": "10.42.0.0/16",
    "service_cidr": "10.43.0.0/16",
    "kubelet_args": ["max-pods=150"],
    "datastore_endpoint": "postgres://db.example.net/k3s",
    "registries": True,
}


def test_the_fixture_says_where_it_comes_from():
    assert "k3s-io/k3s" in FLAGS["source"]["server"] and "commit" in FLAGS["source"]["server"]
    assert FLAGS["minor"] == "1.29" and "v1.29" in FLAGS["version"]


@pytest.mark.parametrize("role", ["server", "agent"])
def test_every_key_flotilla_can_render_is_a_flag_of_the_pinned_release(role):
    assert sorted(set(RENDERED_KEYS[role]) - set(FLAGS[role])) == []
    # and a full rendering uses only those keys
    assert set(render_config(role, EVERYTHING)) <= set(FLAGS[role])


def test_choices_match_the_release():
    assert set(DISABLE_ITEMS) <= set(FLAGS["disable_items"])
    assert set(FLANNEL_BACKENDS) <= set(FLAGS["flannel_backends"])


def test_a_full_server_rendering():
    config = render_config("server", EVERYTHING)
    assert config == {
        "cluster-init": True,
        "server": "https://10.0.0.1:6443",
        "token-file": TOKEN_FILE,
        "node-name": "s1",
        "node-ip": "10.0.0.2",
        "advertise-address": "10.0.0.2",
        "tls-san": ["k3s.example.net", "10.0.0.100"],
        "node-label": ["example.com/disk=ssd", "zone=a"],
        "node-taint": ["dedicated=infra:NoSchedule"],
        "disable": ["servicelb", "traefik"],
        "flannel-backend": "host-gw",
        "cluster-cidr": "10.42.0.0/16",
        "service-cidr": "10.43.0.0/16",
        "kubelet-arg": ["max-pods=150"],
        "datastore-endpoint": "postgres://db.example.net/k3s",
        "write-kubeconfig-mode": "0600",
        "private-registry": "/etc/rancher/k3s/registries.yaml",
    }


def test_an_agent_never_gets_server_keys():
    config = render_config("agent", EVERYTHING)
    assert set(config) == {
        "server",
        "token-file",
        "node-name",
        "node-ip",
        "node-label",
        "node-taint",
        "kubelet-arg",
        "private-registry",
    }


def test_empty_values_are_left_to_k3s_defaults():
    assert render_config("agent", {"server_url": "https://s1:6443", "token_file": True}) == {
        "server": "https://s1:6443",
        "token-file": TOKEN_FILE,
    }
    assert render_config("server", {}) == {"write-kubeconfig-mode": "0600"}


def test_the_token_itself_is_never_rendered():
    config = render_config("server", dict(EVERYTHING, token="s3cret"))
    assert "s3cret" not in json.dumps(config) and "token" not in config


def test_unknown_role():
    with pytest.raises(ValueError):
        render_config("manager", {})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"node_labels": {"bad key!": "a"}}, "is not a Kubernetes label key"),
        ({"node_labels": {"zone": "x" * 64}}, "is not a label value"),
        ({"node_labels": ["zone=a"]}, "k3s_node_labels must be a mapping"),
        ({"node_taints": ["dedicated=infra"]}, "is not key[=value]:Effect"),
        ({"node_taints": ["dedicated=infra:Sometimes"]}, "is not key[=value]:Effect"),
        ({"disable": ["ingress"]}, "'ingress' is not a packaged component"),
        ({"flannel_backend": "ipsec"}, "k3s_server_flannel_backend must be one of"),
        ({"cluster_cidr": "10.42.0.1/16"}, "k3s_server_cluster_cidr must be CIDR"),
        ({"service_cidr": "10.43.0.0/16,fd00::/xx"}, "k3s_server_service_cidr must be CIDR"),
        ({"kubelet_args": ["--max-pods=150"]}, "without leading dashes"),
        ({"node_ip": "eth0"}, "k3s_node_ip must be an IP address"),
        ({"tls_san": ["a b"]}, "is not a host name or address"),
        (
            {"cluster_init": True, "datastore_endpoint": "mysql://x"},
            "external datastore replaces embedded etcd",
        ),
    ],
)
def test_input_errors(settings, message):
    errors = input_errors(settings)
    assert any(message in e for e in errors), errors


def test_good_input_has_no_errors():
    assert input_errors(dict(EVERYTHING, cluster_init=False, datastore_endpoint="")) == []
    assert input_errors({"node_taints": ["node-role.kubernetes.io/control-plane:NoSchedule"]}) == []
    assert input_errors({"cluster_cidr": "10.42.0.0/16,2001:cafe:42::/56"}) == []


@pytest.mark.parametrize(
    ("registries", "errors"),
    [
        ({}, []),
        ({"mirrors": {"docker.io": {"endpoint": ["https://mirror.example.net"]}}}, []),
        ({"mirror": {}}, ["k3s_registries: unknown key(s) mirror (known: mirrors, configs)"]),
        (["docker.io"], ["k3s_registries must be a mapping with mirrors and/or configs"]),
    ],
)
def test_registries_errors(registries, errors):
    assert registries_errors(registries) == errors


K3S_KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [
        {
            "name": "default",
            "cluster": {"certificate-authority-data": "Q0E=", "server": "https://127.0.0.1:6443"},
        }
    ],
    "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
    "current-context": "default",
    "preferences": {},
    "users": [
        {"name": "default", "user": {"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"}}
    ],
}


def test_rewrite_kubeconfig():
    out = rewrite_kubeconfig(K3S_KUBECONFIG, "https://k3s.example.net:6443", "prod")
    assert out["clusters"] == [
        {
            "name": "prod",
            "cluster": {"certificate-authority-data": "Q0E=", "server": "https://k3s.example.net:6443"},
        }
    ]
    assert out["contexts"] == [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}]
    assert out["current-context"] == "prod" and out["users"][0]["name"] == "prod"
    assert out["users"][0]["user"]["client-key-data"] == "S0VZ"
    assert K3S_KUBECONFIG["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"  # input untouched


def test_rewrite_kubeconfig_refuses_other_documents():
    with pytest.raises(ValueError, match="not a kubeconfig"):
        rewrite_kubeconfig({"kind": "Config"}, "https://x:6443", "prod")
