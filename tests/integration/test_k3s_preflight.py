"""k3s without a k3s binary: every refusal before any host changes, check mode, and reset.

No k3s binary can be obtained on the machines that build flotilla, so these tests cover what needs
no running k3s, on two fresh Debian 12 hosts (h5-s1 a server, h5-a1 an agent) over real SSH:

* every preflight refusal (inventory layout, variables, host measurements, the air-gap bundle),
  each proven by a snapshot of every host (packages, /etc/docker, engine, host name, firewall, and
  every path and unit k3s would create) taken before and compared after;
* a bundle whose binary does not match upstream's sums file is refused before anything is copied;
* check mode on fresh hosts with a generated bundle whose files match their own sums file: the run
  completes and says what it would do, and the supplied token never appears in its -vvv output.
  The generated "binary" is a few bytes of text carrying a release string, never executable
  (mode 0644, not a program) and never executed: in check mode nothing is copied, and the tests
  never run k3s.yml for real;
* k3s_reset.yml refuses without confirmation; confirmed, it removes the k3s leftovers it knows
  (files, unit, mount, network interface, iptables chain), planted here by the test, and a second
  run changes nothing.

Forming a real cluster needs a real bundle: molecule/k3s (FLOTILLA_K3S_AIRGAP_DIR).
"""

from __future__ import annotations

import hashlib
import io
import secrets
import tarfile
import time

import pytest
import yaml
from hostsnap import HOST_SNAPSHOT, recap, run_playbook, ssh

from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts.aptcache import ensure_apt_cache
from flotilla.testhosts.swarm_fixture import _host_vars as ssh_vars

OWNER = "h5-k3s-preflight"
SERVER, AGENT = "h5-s1", "h5-a1"
VERSION = "v1.29.5+k3s1"
# Everything k3s.yml and k3s_reset.yml touch, besides packages and engine (HOST_SNAPSHOT)
K3S_SNAPSHOT = HOST_SNAPSHOT + (
    "; ls -la /etc/rancher /var/lib/rancher /usr/local/bin/k3s /etc/systemd/system/k3s.service"
    " /etc/systemd/system/k3s-agent.service 2>&1"
    "; systemctl is-active k3s k3s-agent 2>&1; ip -o link show | awk -F': ' '{print $2}' | sort; true"
)


@pytest.fixture(scope="module")
def k3s_hosts(engine, built_images):
    try:
        specs = [{"name": name, "os": "debian12"} for name in (SERVER, AGENT)]
        yield {host.name: host for host in testhosts.up(engine, OWNER, specs, apt_port=ensure_apt_cache())}
    finally:
        testhosts.down(engine, OWNER, log=lambda _line: None)


def make_bundle(directory, version=VERSION, arch="amd64", corrupt=""):
    """A bundle laid out as upstream publishes one; ``corrupt`` names a file changed after summing."""
    binary = "k3s" if arch == "amd64" else f"k3s-{arch}"
    images = f"k3s-airgap-images-{arch}.tar"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"test data, no images\n"
        info = tarfile.TarInfo("README")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    files = {
        # text, not a program: carries the release string the controller reads from a real binary
        binary: f"flotilla test bundle, not a program; release {version}\n".encode(),
        images: buffer.getvalue(),
    }
    directory.mkdir(parents=True, exist_ok=True)
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files.items())
    (directory / f"sha256sum-{arch}.txt").write_text(sums)
    for name, data in files.items():
        (directory / name).write_bytes(data + (b"changed after summing\n" if name == corrupt else b""))
        (directory / name).chmod(0o644)
    return directory


def write_inventory(path, found, servers, agents, group_vars=None, host_vars=None, swarm=()):
    def entry(name):
        # how Ansible reaches a test host: the swarm fixture's own definition
        return {**ssh_vars(found[name]), **(host_vars or {}).get(name, {})}

    children = {
        "k3s": {
            "vars": dict(group_vars or {}),
            "children": {
                "k3s_servers": {"hosts": {n: entry(n) for n in servers}},
                "k3s_agents": {"hosts": {n: entry(n) for n in agents}},
            },
        }
    }
    if swarm:
        children["swarm_managers"] = {"hosts": {n: entry(n) for n in swarm}}
    path.write_text(yaml.safe_dump({"all": {"children": children}}))
    return path


def snapshots(found):
    return {name: ssh(host, K3S_SNAPSHOT) for name, host in found.items()}


def refused(found, env, inventory, *named, playbook="k3s.yml", extra=()):
    before = snapshots(found)
    result = run_playbook(playbook, inventory, env, *extra, label="k3s")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, f"{playbook} was not refused:\n{output[-6000:]}"
    for text in named:
        assert text in output, f"the refusal does not say {text!r}:\n{output[-6000:]}"
    assert snapshots(found) == before, "a host changed although the run was refused"
    return output


@pytest.fixture
def bundle(tmp_path):
    return make_bundle(tmp_path / "bundle")


def _vars(bundle_dir, **more):
    return {"k3s_version": VERSION, "k3s_airgap_dir": str(bundle_dir), **more}


def test_bad_layout_is_refused(k3s_hosts, tool_env, tmp_path, bundle):
    """Two servers (embedded etcd needs an odd number) and a server that is also a Swarm manager."""
    inventory = write_inventory(
        tmp_path / "hosts.yml", k3s_hosts, [SERVER, AGENT], [], _vars(bundle), swarm=[SERVER]
    )
    refused(
        k3s_hosts,
        tool_env,
        inventory,
        "2 servers with embedded etcd tolerate no more failures than 1",
        f"{SERVER} is in a Swarm group and a k3s group",
    )


def test_bad_variables_are_refused(k3s_hosts, tool_env, tmp_path, bundle):
    inventory = write_inventory(
        tmp_path / "hosts.yml",
        k3s_hosts,
        [SERVER],
        [AGENT],
        _vars(bundle, k3s_node_taints=["dedicated=infra"], k3s_server_flannel_backend="ipsec"),
    )
    refused(k3s_hosts, tool_env, inventory, "k3s_node_taints: 'dedicated=infra' is not key[=value]:Effect")


def test_unfit_hosts_are_refused_on_real_measurements(k3s_hosts, tool_env, tmp_path, bundle):
    """A program on the agent's kubelet port, equal host names, and cgroup v2 required of cgroup v1
    hosts (this machine's kernel runs cgroup v1, so the hosts measure v1)."""
    ssh(k3s_hosts[AGENT], "systemd-run --unit h5-kubelet-port python3 -m http.server 10250 >/dev/null 2>&1")
    ssh(k3s_hosts[AGENT], f"hostname {SERVER}")
    try:
        inventory = write_inventory(
            tmp_path / "hosts.yml", k3s_hosts, [SERVER], [AGENT], _vars(bundle, k3s_require_cgroup_v2=True)
        )
        refused(
            k3s_hosts,
            tool_env,
            inventory,
            f"{AGENT}: TCP port(s) 10250 already in use by another program",
            f"hosts {AGENT}, {SERVER} share the system host name {SERVER}",
            f"{SERVER}: runs cgroup v1 but k3s_require_cgroup_v2 is true",
        )
    finally:
        ssh(k3s_hosts[AGENT], f"systemctl stop h5-kubelet-port; hostname {AGENT}")


def test_checksum_mismatch_and_wrong_release_are_refused_before_any_copy(k3s_hosts, tool_env, tmp_path):
    bad = make_bundle(tmp_path / "bad", corrupt="k3s")
    inventory = write_inventory(
        tmp_path / "hosts.yml", k3s_hosts, [SERVER], [AGENT], _vars(bad, k3s_version="v1.29.6+k3s1")
    )
    refused(
        k3s_hosts,
        tool_env,
        inventory,
        "the k3s air-gap bundle is refused, nothing was copied",
        "k3s does not match sha256sum-amd64.txt",
        "is k3s v1.29.5+k3s1, but k3s_version is v1.29.6+k3s1",
    )


def test_a_bundle_for_another_architecture_is_refused(k3s_hosts, tool_env, tmp_path):
    arm = make_bundle(tmp_path / "arm", arch="arm64")
    inventory = write_inventory(tmp_path / "hosts.yml", k3s_hosts, [SERVER], [AGENT], _vars(arm))
    refused(
        k3s_hosts,
        tool_env,
        inventory,
        "the bundle lacks sha256sum-amd64.txt, k3s, k3s-airgap-images-amd64.tar",
        "(it has checksum files for: arm64)",
    )


def test_check_mode_on_fresh_hosts_says_what_it_would_do_and_changes_nothing(
    k3s_hosts, tool_env, tmp_path, bundle
):
    token = "h5-token-" + secrets.token_hex(16)
    inventory = write_inventory(
        tmp_path / "hosts.yml", k3s_hosts, [SERVER], [AGENT], _vars(bundle, k3s_token=token)
    )
    before = snapshots(k3s_hosts)
    result = run_playbook("k3s.yml", inventory, tool_env, "--check", "--diff", "-vvv", label="k3s")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, output[-8000:]
    assert token not in result.stdout + result.stderr, "the token appears in -vvv output"
    assert f"{SERVER} has no k3s yet" in output and "initialise embedded etcd here" in output
    assert f"{AGENT} has no k3s yet" in output
    assert f"join https://{k3s_hosts[SERVER].address}:6443 as an agent" in output
    # config.yaml as --diff shows it: cluster-init on the first server, token-file on the agent
    assert "cluster-init: true" in output and "token-file: /etc/rancher/k3s/flotilla-token" in output
    assert recap(result.stdout)[SERVER]["failed"] == 0
    assert snapshots(k3s_hosts) == before, "check mode changed a host"


# iptables is not in the fresh hosts' minimal system (k3s brings its own): installed for the plant
INSTALL_IPTABLES = "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables"
PLANT = (
    "mkdir -p /etc/rancher/k3s /var/lib/rancher/k3s/agent/images /run/k3s/containerd/h5 /var/lib/kubelet"
    " && echo 'node-name: x' > /etc/rancher/k3s/config.yaml"
    " && printf '[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n'"
    " > /etc/systemd/system/k3s-agent.service"
    " && systemctl daemon-reload && systemctl enable --now k3s-agent"
    " && mount -t tmpfs h5-plant /run/k3s/containerd/h5"
    " && ip link add flannel.1 type bridge"
    " && iptables -N KUBE-H5-PLANTED && iptables -A INPUT -j KUBE-H5-PLANTED"
)
LEFTOVERS = (
    "ls -d /etc/rancher/k3s /var/lib/rancher/k3s /run/k3s /var/lib/kubelet"
    " /etc/systemd/system/k3s-agent.service 2>/dev/null;"
    " grep ' /run/k3s' /proc/self/mounts; ip link show flannel.1 2>/dev/null | head -1;"
    " iptables-save | grep -c KUBE-; true"
)


def test_reset_refuses_without_confirmation_then_removes_the_leftovers(k3s_hosts, tool_env, tmp_path, bundle):
    inventory = write_inventory(tmp_path / "hosts.yml", k3s_hosts, [SERVER], [AGENT], _vars(bundle))
    started = time.monotonic()
    ssh(k3s_hosts[AGENT], INSTALL_IPTABLES, timeout=300)
    print(f"\n[k3s] iptables installed on {AGENT} in {time.monotonic() - started:.0f}s")
    ssh(k3s_hosts[AGENT], PLANT)
    refused(
        k3s_hosts,
        tool_env,
        inventory,
        "k3s_reset destroys the k3s cluster",
        "-e flotilla_confirm_reset=true",
        playbook="k3s_reset.yml",
    )
    result = run_playbook(
        "k3s_reset.yml", inventory, tool_env, "-e", "flotilla_confirm_reset=true", label="k3s"
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert ssh(k3s_hosts[AGENT], LEFTOVERS).split() == ["0"], "k3s_reset.yml left something behind"
    again = run_playbook(
        "k3s_reset.yml", inventory, tool_env, "-e", "flotilla_confirm_reset=true", label="k3s"
    )
    assert again.returncode == 0 and recap(again.stdout)[AGENT]["changed"] == 0, again.stdout[-4000:]
