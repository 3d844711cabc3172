# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.host_basics import (
    MACHINE_STEPS,
    container_type,
    host_basics,
    hostname_error,
    planned_hostname,
)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("manager-1", None),
        ("node1.example.com", None),
        ("node1.example.com.", None),
        ("", None),
        ("192.0.2.11", None),
        ("fd00::11", None),
        ("[fd00::11]", None),
        ("web_1", "'web_1'"),
        ("-node", "'-node'"),
        ("node-", "'node-'"),
        ("a" * 64, "a" * 64),
        ("node.123", "all digits"),
        ("a." * 130, "longer than 253"),
        ("bad name", "'bad name'"),
    ],
)
def test_hostname_error(name, problem):
    found = hostname_error(name)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@pytest.mark.parametrize(
    ("output", "expected"),
    [("docker\n", "docker"), ("none\n", "none"), ("", "none"), ("lxc", "lxc"), ("  podman  ", "podman")],
)
def test_container_type(output, expected):
    assert container_type(output) == expected


@pytest.mark.parametrize(
    ("hostname", "container", "want_name", "steps", "note"),
    [
        ("swarm-m1", "docker", "swarm-m1", False, "set to swarm-m1"),
        ("swarm-m1", "none", "swarm-m1", True, "set to swarm-m1"),
        ("", "none", "", True, "prereq_hostname is empty"),
        ("192.0.2.11", "none", "", True, "is an address"),
        ("node.example.com", "lxc", "node.example.com", False, "set to node.example.com"),
    ],
)
def test_host_basics_plan(hostname, container, want_name, steps, note):
    plan = host_basics(hostname, container, "keep")
    assert plan["hostname"] == want_name
    assert note in plan["hostname_note"]
    assert plan["machine_steps"] is steps
    assert plan["skipped"] == ([] if steps else list(MACHINE_STEPS))
    assert plan["hostname_use"] == ("systemd" if steps else "file")
    if steps:
        assert plan["container"] == "none" and "applied" in plan["message"]
    else:
        assert plan["container"] == container
        assert f"{container} container" in plan["message"] and "skipped" in plan["message"]


def test_host_basics_refuses_bad_input_naming_the_variable():
    with pytest.raises(ValueError, match="prereq_swap"):
        host_basics("node", "none", "disable")
    with pytest.raises(ValueError, match="prereq_hostname: 'web_1'"):
        host_basics("web_1", "none", "keep")


@pytest.mark.parametrize(
    ("name", "planned"),
    [
        ("swarm-m1", "swarm-m1"),
        ("", ""),
        ("192.0.2.11", ""),
        ("fd00::1", ""),
        ("node.example.com", "node.example.com"),
    ],
)
def test_planned_hostname(name, planned):
    assert planned_hostname(name) == planned
