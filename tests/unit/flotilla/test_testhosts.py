"""The test-host definition and the lab's inventory, without an engine."""

from __future__ import annotations

import argparse

import pytest
import yaml

from flotilla import lab
from flotilla.cli import _host_spec
from flotilla.testhosts import hosts


def test_default_host_cannot_reach_clock_modules_or_boot():
    options = hosts.container_options("h1", "flotilla/testhost:debian12", "net", "owner", privileged=False)
    assert options["cap_add"] == ["ALL"]
    assert set(options["cap_drop"]) == {"SYS_TIME", "SYS_MODULE", "SYS_BOOT", "SYS_RESOURCE"}
    assert "privileged" not in options
    assert options["cgroupns"] == "host"
    assert options["command"] == ["/lib/systemd/systemd"]
    assert options["labels"] == {hosts.OWNER_LABEL: "owner"}
    (mount,) = options["mounts"]
    assert mount["Target"] == "/var/lib/docker" and mount["Type"] == "volume"


def test_privileged_is_opt_in(monkeypatch):
    monkeypatch.delenv("FLOTILLA_PRIVILEGED", raising=False)
    assert hosts.privileged_requested() is False
    monkeypatch.setenv("FLOTILLA_PRIVILEGED", "no")
    assert hosts.privileged_requested() is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=debian12", {"name": "a", "os": "debian12", "python": True, "login": "root", "labels": {}}),
        ("b=debian13,sudo", {"name": "b", "os": "debian13", "python": True, "login": "sudo", "labels": {}}),
        (
            "c=debian12,nopython,group=swarm_workers",
            {
                "name": "c",
                "os": "debian12",
                "python": False,
                "login": "root",
                "labels": {"group": "swarm_workers"},
            },
        ),
    ],
)
def test_host_spec_parsing(text, expected):
    assert _host_spec(text) == expected


@pytest.mark.parametrize("text", ["a", "=debian12", "a=debian12,turbo"])
def test_host_spec_rejects_bad_text(text):
    with pytest.raises(argparse.ArgumentTypeError):
        _host_spec(text)


def test_lab_specs_split_managers_and_workers():
    specs = lab.host_specs(3, 1, "debian12", True, "root")
    assert [spec["labels"]["group"] for spec in specs] == ["swarm_managers", "swarm_workers", "swarm_workers"]
    assert [spec["name"] for spec in specs] == ["flotilla-lab-1", "flotilla-lab-2", "flotilla-lab-3"]


@pytest.mark.parametrize(
    ("count", "managers", "os_name", "message"),
    [
        (0, 1, "debian12", "--hosts"),
        (3, 4, "debian12", "--managers"),
        (3, 0, "debian12", "--managers"),
        (3, 1, "centos7", "--os"),
    ],
)
def test_lab_specs_refuse_bad_options(count, managers, os_name, message):
    with pytest.raises(ValueError, match=message):
        lab.host_specs(count, managers, os_name, True, "root")


def test_lab_inventory_groups_and_become(tmp_path):
    found = [
        hosts.Host("m1", "10.0.0.2", "root", 22, "/k", "debian12", True, False, {"group": "swarm_managers"}),
        hosts.Host(
            "w1", "10.0.0.3", "flotilla", 22, "/k", "debian12", True, True, {"group": "swarm_workers"}
        ),
    ]
    path = tmp_path / "hosts.yml"
    lab.write_inventory(found, path)
    inventory = yaml.safe_load(path.read_text())
    groups = inventory["all"]["children"]["swarm"]["children"]
    assert groups["swarm_managers"]["hosts"]["m1"] == {"ansible_host": "10.0.0.2", "ansible_user": "root"}
    assert groups["swarm_workers"]["hosts"]["w1"]["ansible_become"] is True
    assert inventory["all"]["vars"]["ansible_ssh_private_key_file"] == "/k"


def test_haproxy_config_checks_every_backend():
    from flotilla.testhosts.balancer import haproxy_config

    config = haproxy_config([("10.0.0.2", 8000), ("10.0.0.3", 8000)], port=8080, check_path="/health")
    assert "bind *:8080" in config
    assert "option httpchk GET /health" in config
    assert "server node1 10.0.0.2:8000 check inter 500ms fall 2 rise 2" in config
    assert "server node2 10.0.0.3:8000 check" in config
