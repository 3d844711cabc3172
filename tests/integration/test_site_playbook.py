"""playbooks/site.yml from the BUILT collection, and bad input refused before any host changes.

The collection is built with ansible-galaxy, installed into a temporary collections path and run
by FQCN (flotilla.cluster.site) with an ansible.cfg that knows nothing of this clone: that is how
a Galaxy user runs it. Bad-input runs then go against a fresh host, the provisioned host and a
host whose os-release names an unsupported system; each host's packages, /etc/docker and engine
state are snapshotted before and after, and must be identical.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts.aptcache import ensure_apt_cache
from flotilla.testhosts.hosts import ssh

ROOT = Path(__file__).resolve().parents[2]
OWNER = "pytest-site"
SNAPSHOT = (
    "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' | sort | sha256sum;"
    " find /etc/docker /etc/systemd/system/docker.service.d -type f -exec sha256sum {} + 2>/dev/null | sort;"
    " systemctl is-active docker 2>/dev/null;"
    " docker info --format '{{.ServerVersion}} {{.Swarm.LocalNodeState}}' 2>/dev/null;"
    " ls /etc/apt/sources.list.d /etc/apt/keyrings 2>/dev/null; true"
)


@pytest.fixture(scope="module")
def site_hosts(engine, built_images):
    specs = [
        {"name": "site-fresh", "os": "debian12"},
        {"name": "site-provisioned", "os": "debian13"},
        {"name": "site-odd-os", "os": "debian12"},
    ]
    try:
        found = {host.name: host for host in testhosts.up(engine, OWNER, specs, apt_port=ensure_apt_cache())}
        # A real fact-gathering path to an unsupported system: the host says it is something else.
        ssh(
            found["site-odd-os"],
            "printf '%s\\n' ID=plan9 'NAME=\"Plan 9\"' VERSION_ID=4 'PRETTY_NAME=\"Plan 9 4th edition\"'"
            " > /etc/os-release",
        )
        yield found
    finally:
        testhosts.down(engine, OWNER, log=lambda _line: None)


@pytest.fixture(scope="module")
def installed_collection(tmp_path_factory, tool_env) -> Path:
    work = tmp_path_factory.mktemp("collection")
    build = subprocess.run(
        ["ansible-galaxy", "collection", "build", "--output-path", str(work)],
        cwd=ROOT,
        env=tool_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = next(work.glob("flotilla-cluster-*.tar.gz"))
    collections = work / "collections"
    # outside the clone, so that its ansible.cfg (which links this checkout in) plays no part
    (work / "ansible.cfg").write_text("[defaults]\n")
    install = subprocess.run(
        [
            "ansible-galaxy",
            "collection",
            "install",
            "--force",
            "--no-deps",
            "-p",
            str(collections),
            str(tarball),
        ],
        cwd=work,
        env=dict(tool_env, ANSIBLE_CONFIG=str(work / "ansible.cfg")),
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert (collections / "ansible_collections/flotilla/cluster/playbooks/site.yml").is_file()
    assert not (collections / "ansible_collections/flotilla/cluster/molecule").exists(), (
        "test-only files shipped"
    )
    return collections


def _inventory(path: Path, found: dict[str, testhosts.Host], extra_vars: dict | None = None) -> Path:
    hosts = {name: {"ansible_host": host.address, "ansible_user": host.user} for name, host in found.items()}
    any_host = next(iter(found.values()))
    inventory = {
        "all": {
            "hosts": hosts,
            "vars": {
                "ansible_ssh_private_key_file": any_host.identity_file,
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                **(extra_vars or {}),
            },
        }
    }
    path.write_text(yaml.safe_dump(inventory))
    return path


def _run_site(collections: Path, inventory: Path, env: dict, workdir: Path, *extra: str):
    config = workdir / "ansible.cfg"
    config.write_text(
        f"[defaults]\ncollections_path = {collections}\nforks = 12\ninject_facts_as_vars = False\n"
        "[ssh_connection]\npipelining = True\nssh_args = -o ControlMaster=auto -o ControlPersist=60s\n"
    )
    return subprocess.run(
        ["ansible-playbook", "-i", str(inventory), "flotilla.cluster.site", *extra],
        cwd=workdir,
        env=dict(env, ANSIBLE_CONFIG=str(config)),
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def provisioned(site_hosts, installed_collection, tool_env, tmp_path_factory):
    """site.yml by FQCN from the installed collection, onto one host."""
    work = tmp_path_factory.mktemp("fqcn-run")
    inventory = _inventory(work / "hosts.yml", {"site-provisioned": site_hosts["site-provisioned"]})
    result = _run_site(installed_collection, inventory, tool_env, work)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return site_hosts


def test_site_by_fqcn_from_built_collection(provisioned):
    state = ssh(
        provisioned["site-provisioned"],
        "systemctl is-active docker; docker info --format '{{.ServerVersion}}'",
    )
    active, version = state.split()
    assert active == "active"
    assert version.startswith("26."), f"Debian 13's docker.io should report 26.x, got {version}"


BAD_INPUT = [
    pytest.param({"docker_install_source": "snap"}, "docker_install_source", id="unknown-install-source"),
    pytest.param(
        {"docker_daemon_log_opts": "max-size=10m"}, "docker_daemon_log_opts", id="daemon-option-not-a-dict"
    ),
    pytest.param(
        {"docker_daemon_default_address_pools": [{"base": "10.10.0.0/33", "size": 24}]},
        "docker_daemon_default_address_pools",
        id="malformed-address-pool",
    ),
    pytest.param(
        {"docker_daemon_metrics_address": "127.0.0.1"}, "docker_daemon_metrics_address", id="metrics-no-port"
    ),
    pytest.param({"docker_users": {"name": "alice"}}, "docker_users", id="wrong-type"),
    pytest.param({"docker_version": "26.1"}, "docker_version", id="version-not-x-y-z"),
    pytest.param({"docker_tcp_api_enabled": True}, "docker_tls", id="tcp-api-without-tls"),
]


def _snapshots(found: dict[str, testhosts.Host]) -> dict[str, str]:
    return {name: ssh(host, SNAPSHOT) for name, host in found.items()}


@pytest.mark.parametrize(("extra_vars", "named"), BAD_INPUT)
def test_bad_input_fails_before_any_host_changes(
    extra_vars, named, provisioned, installed_collection, tool_env, tmp_path
):
    targets = {name: host for name, host in provisioned.items() if name != "site-odd-os"}
    before = _snapshots(targets)
    inventory = _inventory(tmp_path / "hosts.yml", targets, extra_vars)
    result = _run_site(installed_collection, inventory, tool_env, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"site.yml accepted {extra_vars}:\n{output[-4000:]}"
    assert named in output, f"the failure does not name {named}:\n{output[-4000:]}"
    assert _snapshots(targets) == before, "a host changed although the input was refused"


def test_unsupported_os_fails_before_any_host_changes(provisioned, installed_collection, tool_env, tmp_path):
    before = _snapshots(provisioned)
    inventory = _inventory(tmp_path / "hosts.yml", provisioned)
    result = _run_site(installed_collection, inventory, tool_env, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    assert "Plan 9" in output or "plan9" in output, f"the failure does not name the system:\n{output[-4000:]}"
    assert _snapshots(provisioned) == before, "a host changed although one host's OS is unsupported"
