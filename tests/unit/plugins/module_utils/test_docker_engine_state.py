import json

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.docker_engine_state import (
    PlanError,
    engine_lags_package,
    parse_apt_policy_candidate,
    parse_docker_info,
    parse_dpkg_query,
    parse_madison,
    parse_rpm_query,
    plan_packages,
)

DEB12 = "20.10.24+dfsg1-1+deb12u1+b6"


def test_parse_dpkg_query_reads_versions_and_holds():
    out = (
        f"docker.io\t{DEB12}\thold ok installed\n"
        "containerd\t1.6.20~ds1-1+b1\tinstall ok installed\n"
        "runc\t\tunknown ok not-installed\n"
    )
    assert parse_dpkg_query(out) == {
        "docker.io": {"version": DEB12, "held": True},
        "containerd": {"version": "1.6.20~ds1-1+b1", "held": False},
    }


def test_parse_rpm_query_with_versionlock():
    out = "docker-ce\t3:24.0.7-1.el9\ncontainerd.io\t(none):1.6.28-3.1.el9\npackage runc is not installed\n"
    locks = "docker-ce-3:24.0.7-1.el9.*\n"
    assert parse_rpm_query(out, locks) == {
        "docker-ce": {"version": "3:24.0.7-1.el9", "held": True},
        "containerd.io": {"version": "1.6.28-3.1.el9", "held": False},
    }


def test_parse_apt_outputs():
    madison = f" docker.io | {DEB12} | http://deb.debian.org/debian bookworm/main amd64 Packages\n"
    assert parse_madison(madison) == [DEB12]
    assert parse_apt_policy_candidate(f"docker.io:\n  Installed: (none)\n  Candidate: {DEB12}\n") == DEB12
    assert parse_apt_policy_candidate("docker.io:\n  Installed: (none)\n  Candidate: (none)\n") is None


@pytest.mark.parametrize(
    ("rc", "info", "member"),
    [
        (0, {"ServerVersion": "20.10.24+dfsg1", "Swarm": {"LocalNodeState": "active"}}, True),
        (0, {"ServerVersion": "26.1.5", "Swarm": {"LocalNodeState": "inactive"}}, False),
        (0, {"ServerVersion": "26.1.5", "Swarm": {"LocalNodeState": "locked"}}, True),
    ],
)
def test_parse_docker_info_swarm_membership(rc, info, member):
    engine = parse_docker_info(rc, json.dumps(info))
    assert engine["running"] and engine["swarm_member"] is member


def test_parse_docker_info_daemon_down():
    assert parse_docker_info(1, "")["running"] is False
    assert parse_docker_info(0, '{"ServerVersion": ""}')["running"] is False


def test_fresh_host_unpinned_installs_source_default():
    plan = plan_packages(
        pinned=["docker.io"], companions=["containerd"], installed={}, policy_candidate=DEB12
    )
    assert plan["install_needed"] and plan["target_package_version"] is None
    assert plan["target_upstream"] == "20.10.24"
    assert plan["unheld"] == ["docker.io", "containerd"]


def test_installed_unpinned_is_never_upgraded():
    installed = {
        "docker.io": {"version": DEB12, "held": True},
        "containerd": {"version": "1.6", "held": True},
    }
    plan = plan_packages(
        pinned=["docker.io"],
        companions=["containerd"],
        installed=installed,
        policy_candidate="26.1.5+dfsg1-9",
    )
    assert plan["install_needed"] is False and plan["unheld"] == []
    assert plan["target_upstream"] == "20.10.24"


def test_pin_maps_to_package_version_and_detects_change():
    installed = {"docker.io": {"version": DEB12, "held": True}}
    candidates = ["26.1.5+dfsg1-9+deb13u1", DEB12]
    plan = plan_packages(
        pinned=["docker.io"], companions=[], installed=installed, version="26.1.5", candidates=candidates
    )
    assert plan["target_package_version"] == "26.1.5+dfsg1-9+deb13u1"
    assert plan["install_reasons"] == [f"docker.io {DEB12} -> 26.1.5+dfsg1-9+deb13u1"]


def test_pin_not_offered_lists_what_is():
    with pytest.raises(PlanError, match="offer: 20.10.24"):
        plan_packages(pinned=["docker.io"], companions=[], installed={}, version="26.1.5", candidates=[DEB12])


def test_offline_directory_must_match_pin():
    files = [{"path": "/p/docker.io.deb", "name": "docker.io", "version": DEB12}]
    with pytest.raises(PlanError, match="offline package directory holds docker.io"):
        plan_packages(
            pinned=["docker.io"], companions=[], installed={}, version="26.1.5", offline_files=files
        )
    plan = plan_packages(
        pinned=["docker.io"], companions=[], installed={}, version="20.10.24", offline_files=files
    )
    assert plan["install_files"] == ["/p/docker.io.deb"]


def test_engine_lags_package():
    assert engine_lags_package({"running": True, "server_version": "20.10.24+dfsg1"}, "26.1.5")
    assert not engine_lags_package({"running": True, "server_version": "26.1.5+dfsg1"}, "26.1.5")
    assert not engine_lags_package({"running": False, "server_version": None}, "26.1.5")
