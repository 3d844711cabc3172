"""The one definition of a test host, shared by the lab and by Molecule.

A test host is a container that behaves like a real machine: systemd as PID 1, sshd reached
over real SSH with a generated key, and its own Docker engine inside (Swarm nodes need that),
while it cannot touch the machine's clock, kernel modules or reboot it.

Every container, network and volume made here carries the label `org.flotilla.testhosts=<owner>`
so that `down(owner)` and `prune()` find exactly what a lab or a scenario created, even when an
earlier run on the same machine was interrupted.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import docker
import docker.errors
from docker.types import Mount

from flotilla.testhosts.images import HOST_REPO, SUDO_USER, TEST_LABEL
from flotilla.testhosts.paths import state_dir

OWNER_LABEL = TEST_LABEL
ROLE_LABEL = "org.flotilla.testhosts.role"
CAP_SYS_RESOURCE = 24

# Capabilities a test host must never have: it shares the machine's kernel and clock, so a
# time-sync daemon or modprobe inside it would act on the machine itself. SYS_RESOURCE is
# missing from some machines' bounding set (the reason `privileged` fails there).
DROPPED_CAPS = ["SYS_RESOURCE", "SYS_TIME", "SYS_MODULE", "SYS_BOOT"]

Log = Callable[[str], None]

# A test host gets new host keys every time it starts: there is nothing to check them against.
SSH_OPTIONS = ("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR")


@dataclass
class Host:
    """What a caller needs to reach a started host."""

    name: str
    address: str
    user: str
    port: int
    identity_file: str
    os: str
    python: bool
    become: bool
    labels: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def ssh(host: Host, command: str, *, timeout: float = 60, stdin: BinaryIO | None = None) -> str:
    """Run the shell `command` on `host` as root over its real SSH access; its stdout, stripped.

    As root through sudo when the host's login is not root (login='sudo'), as Ansible's become
    does. A non-zero exit raises CalledProcessError, whose stderr says why. `stdin` feeds an open
    file to the command (an image archive to `docker load`, say).
    """
    if host.become:
        command = f"sudo sh -c {shlex.quote(command)}"
    login = ["-i", host.identity_file, "-p", str(host.port), *SSH_OPTIONS, f"{host.user}@{host.address}"]
    result = subprocess.run(
        ["ssh", *login, command],
        stdin=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    )
    return result.stdout.strip()


def privileged_requested() -> bool:
    """Whether to start hosts `privileged` (FLOTILLA_PRIVILEGED=yes); the default is the explicit set.

    The engine ignores --cap-drop for a privileged container, so a privileged host could set the
    machine's clock or load kernel modules. The explicit capability set runs systemd, an inner
    engine and Swarm just as well, and it also works where `privileged` is refused (a machine
    whose bounding set lacks CAP_SYS_RESOURCE). Privileged stays available for machines that
    need it, with a clear refusal where the machine cannot grant it.
    """
    if os.environ.get("FLOTILLA_PRIVILEGED", "no").lower() not in ("yes", "true", "1"):
        return False
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapBnd:") and not int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1:
                raise RuntimeError(
                    "FLOTILLA_PRIVILEGED=yes, but this machine's capability bounding set lacks "
                    "CAP_SYS_RESOURCE, so the engine cannot start privileged containers; unset it"
                )
    except OSError:
        pass
    return True


def container_options(name: str, image: str, network: str, owner: str, privileged: bool) -> dict:
    """docker SDK `containers.run` arguments for one test host.

    By default every capability but the clock, module, boot and resource ones; `privileged`
    when asked for (see privileged_requested). Either way the host runs its own engine on an
    anonymous volume at /var/lib/docker: overlay2 needs a real file system there.
    """
    labels = {OWNER_LABEL: owner}
    options = {
        "image": image,
        "name": name,
        "hostname": name,
        "detach": True,
        "labels": labels,
        "network": network,
        "stop_signal": "SIGRTMIN+3",
        "cgroupns": "host",
        "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
        "tmpfs": {"/run": "", "/run/lock": ""},
        "volumes": {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
        "mounts": [Mount(target="/var/lib/docker", source=None, type="volume", labels=labels)],
        "cap_drop": DROPPED_CAPS,
        "command": ["/lib/systemd/systemd"],
    }
    if privileged:
        options["privileged"] = True
    else:
        options["cap_add"] = ["ALL"]
    return options


def ensure_key(owner: str) -> Path:
    """A private SSH key for this owner's hosts (0600, inside a 0700 folder)."""
    key = state_dir(owner) / "id_ed25519"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"flotilla-{owner}", "-f", str(key)],
            check=True,
        )
    key.chmod(0o600)
    return key


def network_name(owner: str) -> str:
    """The name of the owner's private bridge network."""
    return f"flotilla-{owner}"


def ensure_network(client: docker.DockerClient, owner: str) -> docker.models.networks.Network:
    """A private bridge per owner; the engine picks a free subnet (never assume one is free)."""
    name = network_name(owner)
    for network in client.networks.list(names=[name]):
        if network.name == name:
            return network
    return client.networks.create(name, driver="bridge", labels={OWNER_LABEL: owner}, check_duplicate=True)


def _exec(container, command: str, user: str = "root") -> tuple[int, str]:
    code, output = container.exec_run(["sh", "-c", command], user=user)
    return code, output.decode(errors="replace").strip()


def _wait_booted(container, timeout: float) -> None:
    """Wait for systemd to finish booting: apt racing the boot's clean-up of /tmp fails."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        _, state = _exec(container, "systemctl is-system-running 2>/dev/null || true")
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    _, failed = _exec(container, "systemctl --failed --no-legend --plain 2>/dev/null || true")
    raise RuntimeError(
        f"{container.name} did not finish booting in {timeout:.0f}s (state {state!r}); failed: {failed}"
    )


def _wait_ssh(address: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, 22), timeout=2) as sock:
                if sock.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"sshd on {address} did not answer within {timeout:.0f}s")


def _prepare_access(container, public_key: str, login: str, apt_proxy: str | None) -> None:
    """Authorise the key for root or for the sudo user, and point apt at the package cache.

    With login='sudo' root cannot log in over SSH at all, as on hardened real machines.
    """
    home = "/root" if login == "root" else f"/home/{SUDO_USER}"
    owner = "root" if login == "root" else SUDO_USER
    keys = f"{home}/.ssh/authorized_keys"
    script = (
        f"install -d -m 700 -o {owner} -g {owner} {home}/.ssh"
        f" && printf '%s\\n' '{public_key}' > {keys} && chown {owner}:{owner} {keys} && chmod 600 {keys}"
    )
    if login == "sudo":
        login_conf = "/etc/ssh/sshd_config.d/flotilla-login.conf"
        script += f" && echo 'PermitRootLogin no' > {login_conf} && systemctl reload ssh"
    if apt_proxy:
        script += (
            f" && printf 'Acquire::http::Proxy \"%s\";\\n' '{apt_proxy}'"
            " > /etc/apt/apt.conf.d/00flotilla-testhost-proxy"
        )
    code, output = _exec(container, script)
    if code != 0:
        raise RuntimeError(f"could not prepare SSH access on {container.name}: {output}")


MIN_INOTIFY_INSTANCES = 1024


def _check_inotify() -> None:
    """systemd in each host needs inotify instances; with the kernel's default (128) it exits
    with code 255 and no output once about 20 hosts run. Say so instead of failing obscurely."""
    try:
        have = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    except (OSError, ValueError):
        return
    if have < MIN_INOTIFY_INSTANCES:
        raise RuntimeError(
            f"fs.inotify.max_user_instances is {have}; test hosts need more (each runs systemd): "
            "run tools/setup-machine, or sysctl -w fs.inotify.max_user_instances=8192"
        )


def up(
    client: docker.DockerClient,
    owner: str,
    specs: list[dict],
    apt_port: int | None = None,
    log: Log = print,
    boot_timeout: float = 90,
) -> list[Host]:
    """Start (or find running) the hosts described by `specs` and return how to reach them.

    A spec is {"name", "os" (debian12|debian13), "python" (bool), "login" (root|sudo), "labels"}.
    Calling up() again for running hosts is harmless: they are returned as they are.
    """
    _check_inotify()
    key = ensure_key(owner)
    public_key = key.with_suffix(".pub").read_text().strip()
    network = ensure_network(client, owner)
    gateway = network.attrs["IPAM"]["Config"][0]["Gateway"] if network.attrs["IPAM"]["Config"] else None
    if gateway is None:
        network.reload()
        gateway = network.attrs["IPAM"]["Config"][0]["Gateway"]
    apt_proxy = f"http://{gateway}:{apt_port}" if apt_port else None
    privileged = privileged_requested()
    started = []
    for spec in specs:
        python = spec.get("python", True)
        image = f"{HOST_REPO}:{spec['os']}" + ("" if python else "-nopython")
        try:
            container = client.containers.get(spec["name"])
            if container.labels.get(OWNER_LABEL) != owner:
                raise RuntimeError(
                    f"a container named {spec['name']} exists and is not one of {owner}'s test hosts; "
                    "remove it or choose another name"
                )
            if container.status != "running":
                container.start()
        except docker.errors.NotFound:
            log(f"starting test host {spec['name']} ({image})")
            options = container_options(spec["name"], image, network.name, owner, privileged)
            options["labels"].update({f"{ROLE_LABEL}.{k}": str(v) for k, v in spec.get("labels", {}).items()})
            container = client.containers.run(**options)
        started.append((spec, container))
    hosts = []
    for spec, container in started:
        _wait_booted(container, boot_timeout)
        login = spec.get("login", "root")
        _prepare_access(container, public_key, login, apt_proxy)
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        _wait_ssh(address, 30)
        hosts.append(
            Host(
                name=spec["name"],
                address=address,
                user="root" if login == "root" else SUDO_USER,
                port=22,
                identity_file=str(key),
                os=spec["os"],
                python=spec.get("python", True),
                become=login != "root",
                labels=spec.get("labels", {}),
            )
        )
    return hosts


def down(client: docker.DockerClient, owner: str, log: Log = print) -> int:
    """Remove every container, network and volume labelled for `owner`; safe to run twice."""
    selector = {"label": f"{OWNER_LABEL}={owner}"}
    removed = 0
    for container in client.containers.list(all=True, filters=selector):
        log(f"removing test host {container.name}")
        container.remove(force=True, v=True)
        removed += 1
    for network in client.networks.list(filters=selector):
        network.remove()
    for volume in client.volumes.list(filters=selector):
        volume.remove(force=True)
    return removed


def owners(client: docker.DockerClient) -> set[str]:
    """Owners that still have test hosts or networks on this engine."""
    found = set()
    for container in client.containers.list(all=True, filters={"label": OWNER_LABEL}):
        found.add(container.labels[OWNER_LABEL])
    for network in client.networks.list(filters={"label": OWNER_LABEL}):
        found.add(network.attrs["Labels"][OWNER_LABEL])
    found.discard("image")
    return found
