import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.docker_daemon_config import (
    build_daemon_config,
    daemon_config_errors,
)

DEFAULTS = {
    "daemon_log_driver": "json-file",
    "daemon_log_opts": {"max-size": "10m", "max-file": "3"},
    "daemon_registry_mirrors": [],
    "daemon_insecure_registries": [],
    "daemon_data_root": "",
    "daemon_default_address_pools": [],
    "daemon_metrics_address": "",
    "daemon_live_restore": False,
    "daemon_extra": {},
    "tcp_api_enabled": False,
    "tcp_api_address": "0.0.0.0",
    "tcp_api_port": 2376,
    "tls_ca_cert": "",
    "tls_cert": "",
    "tls_key": "",
}


def settings(**changes):
    return {**DEFAULTS, **changes}


def test_role_defaults_are_valid_and_render_log_rotation():
    assert daemon_config_errors(DEFAULTS) == []
    assert build_daemon_config(DEFAULTS) == {
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "3"},
    }


@pytest.mark.parametrize(
    ("changes", "groups", "fragment"),
    [
        ({"daemon_log_opts": {"max-file": 3}}, (), "docker_daemon_log_opts must be a dict of strings"),
        ({"daemon_log_opts": "max-size=10m"}, (), "got a string"),
        ({"daemon_log_driver": "Json File"}, (), "docker_daemon_log_driver"),
        ({"daemon_registry_mirrors": ["mirror.lan"]}, (), "docker_daemon_registry_mirrors"),
        ({"daemon_insecure_registries": ["http://r.lan"]}, (), "docker_daemon_insecure_registries"),
        ({"daemon_data_root": "var/lib/docker"}, (), "docker_daemon_data_root"),
        ({"daemon_default_address_pools": [{"base": "10.0.0.0/8"}]}, (), "exactly the keys base and size"),
        (
            {"daemon_default_address_pools": [{"base": "10.0.0.1/8", "size": 24}]},
            (),
            ".base must be a network",
        ),
        (
            {"daemon_default_address_pools": [{"base": "10.0.0.0/16", "size": 8}]},
            (),
            "between the base prefix /16",
        ),
        (
            {"daemon_default_address_pools": [{"base": "10.0.0.0/16", "size": "24"}]},
            (),
            "integer prefix length",
        ),
        ({"daemon_default_address_pools": {"base": "10.0.0.0/16"}}, (), "must be a list"),
        ({"daemon_metrics_address": "127.0.0.1"}, (), "docker_daemon_metrics_address must be host:port"),
        ({"daemon_metrics_address": "127.0.0.1:99999"}, (), "port 1-65535"),
        ({"daemon_live_restore": True}, ("swarm_workers",), "docker_daemon_live_restore must be false"),
        ({"daemon_extra": {"live-restore": True}}, ("swarm",), "docker_daemon_live_restore must be false"),
        ({"daemon_extra": {"log-driver": "local"}}, (), "use docker_daemon_log_driver instead"),
        ({"daemon_extra": {"hosts": ["tcp://0.0.0.0:2375"]}}, (), "use docker_tcp_api_enabled instead"),
        ({"tcp_api_enabled": True}, (), "docker_tls_ca_cert, docker_tls_cert, docker_tls_key"),
        (
            {"tcp_api_enabled": True, "tls_ca_cert": "a", "tls_cert": "b", "tls_key": "c", "tcp_api_port": 0},
            (),
            "docker_tcp_api_port",
        ),
    ],
)
def test_bad_input_names_the_variable(changes, groups, fragment):
    errors = daemon_config_errors(settings(**changes), groups)
    assert any(fragment in error for error in errors), errors


def test_live_restore_is_fine_outside_swarm_groups():
    assert daemon_config_errors(settings(daemon_live_restore=True), ("k3s_agents",)) == []


@pytest.mark.parametrize("address", ["127.0.0.1:9323", "[::1]:9323", "metrics.lan:9323", "0.0.0.0:9323"])
def test_metrics_addresses_accepted(address):
    assert daemon_config_errors(settings(daemon_metrics_address=address)) == []


def test_every_error_is_reported_at_once():
    errors = daemon_config_errors(
        settings(daemon_log_opts={"max-file": 3}, daemon_metrics_address="x", daemon_data_root="rel")
    )
    assert len(errors) == 3


def test_full_config_with_remote_api():
    config = build_daemon_config(
        settings(
            daemon_registry_mirrors=["https://m.lan"],
            daemon_insecure_registries=["r.lan:5000"],
            daemon_data_root="/srv/docker",
            daemon_default_address_pools=[{"base": "10.200.0.0/16", "size": 24}],
            daemon_metrics_address="127.0.0.1:9323",
            tcp_api_enabled=True,
            tcp_api_address="::",
            daemon_extra={"debug": True},
        )
    )
    assert config["hosts"] == ["fd://", "tcp://[::]:2376"]
    assert config["tlsverify"] is True and config["tlskey"] == "/etc/docker/tls/key.pem"
    assert config["data-root"] == "/srv/docker"
    assert config["default-address-pools"] == [{"base": "10.200.0.0/16", "size": 24}]
    assert config["debug"] is True
    assert "live-restore" not in config
