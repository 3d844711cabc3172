"""Test-only: a small real Swarm on test hosts, formed by playbooks/site.yml, for tests and benchmarks.

`form_swarm` starts the hosts (hosts.up), writes an inventory with the groups swarm_managers and
swarm_workers, runs the operator's own playbook to install the engine and form the swarm, and
loads the busybox service image into every node's engine (there is no registry here). A swarm
left running by an earlier call with the same owner is reused when every node is Ready, so a
benchmark can be run again without provisioning again.

`build_images` builds small images on the first manager (`docker build` FROM the busybox image,
no registry, nothing pulled) and copies them to the other nodes with `docker save | docker load`,
so every node holds the same image ID under the same tag, as a registry would have given them.

Nothing here is meant for production hosts: it reaches into the containers through the machine's
engine (`exec`, `put_archive`) to load images quickly.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import docker
import yaml

from flotilla.testhosts import hosts as testhosts

ROOT = Path(__file__).resolve().parents[3]
# scratch space inside the test hosts (not on this machine)
NODE_TMP = "/var/tmp"  # noqa: S108
Log = Callable[[str], None]


@dataclass
class Swarm:
    """A formed swarm: its hosts by role, the inventory that formed it, and how it went."""

    owner: str
    managers: list[testhosts.Host]
    workers: list[testhosts.Host]
    inventory: Path
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def nodes(self) -> list[testhosts.Host]:
        return self.managers + self.workers

    @property
    def manager(self) -> testhosts.Host:
        return self.managers[0]


def tool_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for ansible-playbook: this interpreter's bin folder first on PATH, no colour."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env["NO_COLOR"] = "1"
    return env


def exec_in(client: docker.DockerClient, host: testhosts.Host, command: str, timeout: float = 120) -> str:
    """Run a shell command inside a test host through the machine's engine; raise on failure.

    `timeout` bounds the command inside the host (coreutils `timeout`), so no call hangs forever.
    """
    container = client.containers.get(host.name)
    code, output = container.exec_run(["timeout", str(int(timeout)), "sh", "-c", command])
    text = output.decode(errors="replace").strip()
    if code != 0:
        raise RuntimeError(f"{host.name}: `{command[:120]}` failed (rc {code}): {text[-2000:]}")
    return text


def _put_file(client: docker.DockerClient, host: testhosts.Host, folder: str, name: str, data: bytes) -> None:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
    exec_in(client, host, f"mkdir -p {folder}")
    client.containers.get(host.name).put_archive(folder, archive.getvalue())


def _host_vars(host: testhosts.Host) -> dict:
    data = {
        "ansible_host": host.address,
        "ansible_port": host.port,
        "ansible_user": host.user,
        "ansible_ssh_private_key_file": host.identity_file,
        "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no",
    }
    if host.become:
        data["ansible_become"] = True
    return data


def write_inventory(
    path: Path,
    managers: list[testhosts.Host],
    workers: list[testhosts.Host],
    swarm_vars: dict | None = None,
) -> Path:
    """An inventory shaped like inventories/sample: swarm -> swarm_managers, swarm_workers."""
    inventory = {
        "all": {
            "children": {
                "swarm": {
                    "vars": dict(swarm_vars or {}),
                    "children": {
                        "swarm_managers": {"hosts": {h.name: _host_vars(h) for h in managers}},
                        "swarm_workers": {"hosts": {h.name: _host_vars(h) for h in workers}},
                    },
                }
            }
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def run_playbook(
    playbook: str, inventory: Path, env: dict[str, str], *extra: str, timeout: float = 900
) -> subprocess.CompletedProcess:
    """ansible-playbook from the checkout (its ansible.cfg), bounded in time; never raises on rc."""
    return subprocess.run(
        ["ansible-playbook", "-i", str(inventory), playbook, *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def _ready_nodes(client: docker.DockerClient, manager: testhosts.Host) -> tuple[int, str]:
    """How many nodes the manager lists as Ready and Active, and why the count could not be read."""
    try:
        listed = exec_in(client, manager, "docker node ls --format '{{.Status}} {{.Availability}}'", 30)
    except RuntimeError as error:
        return 0, str(error)
    return sum(1 for line in listed.splitlines() if line.split() == ["Ready", "Active"]), ""


def wait_ready(client: docker.DockerClient, swarm: Swarm, timeout: float = 120) -> None:
    """Wait until every node is Ready and Active (an engine may still be settling after site.yml)."""
    deadline = time.monotonic() + timeout
    while True:
        ready, error = _ready_nodes(client, swarm.manager)
        if ready == len(swarm.nodes):
            return
        if time.monotonic() >= deadline:
            counted = f"{ready} of {len(swarm.nodes)} nodes Ready and Active"
            raise RuntimeError(f"{swarm.owner}: {counted} after {timeout:.0f}s {error}".strip())
        time.sleep(2)


def load_busybox(client: docker.DockerClient, nodes: list[testhosts.Host], archive: Path) -> None:
    """`docker load` the busybox archive into every node's engine, side by side."""
    data = archive.read_bytes()

    def one(host: testhosts.Host) -> None:
        _put_file(client, host, NODE_TMP, "flotilla-busybox.tar", data)
        exec_in(client, host, f"docker load --input {NODE_TMP}/flotilla-busybox.tar >/dev/null", 120)

    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(one, nodes))


def form_swarm(
    client: docker.DockerClient,
    owner: str,
    workdir: Path,
    busybox_archive: Path,
    managers: int = 1,
    workers: int = 2,
    os_name: str = "debian12",
    apt_port: int | None = None,
    env: dict[str, str] | None = None,
    swarm_vars: dict | None = None,
    alongside: Callable[[list[testhosts.Host]], None] | None = None,
    before_site: Callable[[list[testhosts.Host]], None] | None = None,
    timeout: float = 900,
    log: Log = print,
) -> Swarm:
    """Start the hosts and form the swarm with playbooks/site.yml; reuse one that is already formed.

    `alongside(nodes)` runs in a thread while site.yml provisions the nodes (a balancer in front
    of them, say), so the slow steps overlap; its exception, if any, is raised here.
    `before_site(nodes)` prepares fresh hosts before site.yml runs (an extra apt source, say);
    it is not called when the swarm is reused.
    """
    specs = [{"name": f"{owner}-m{i}", "os": os_name} for i in range(1, managers + 1)]
    specs += [{"name": f"{owner}-w{i}", "os": os_name} for i in range(1, workers + 1)]
    started = time.monotonic()
    found = testhosts.up(client, owner, specs, apt_port=apt_port, log=log)
    seconds = {"hosts": time.monotonic() - started}
    swarm = Swarm(owner, found[:managers], found[managers:], workdir / "hosts.yml", seconds)
    write_inventory(swarm.inventory, swarm.managers, swarm.workers, swarm_vars)
    with ThreadPoolExecutor(max_workers=1) as pool:
        side = pool.submit(alongside, swarm.nodes) if alongside else None
        started = time.monotonic()
        if _ready_nodes(client, swarm.manager)[0] == len(swarm.nodes):
            log(f"{owner}: the swarm of {len(swarm.nodes)} nodes is already formed; reusing it")
        else:
            if before_site is not None:
                before_site(swarm.nodes)
            result = run_playbook("playbooks/site.yml", swarm.inventory, tool_env(env), timeout=timeout)
            if result.returncode != 0:
                output = result.stdout[-6000:] + "\n" + result.stderr[-2000:]
                raise RuntimeError(f"site.yml failed (rc {result.returncode}):\n{output}")
        seconds["site"] = time.monotonic() - started
        started = time.monotonic()
        load_busybox(client, swarm.nodes, busybox_archive)
        seconds["images"] = time.monotonic() - started
        if side is not None:
            side.result(timeout=timeout)
    wait_ready(client, swarm)
    return swarm


def build_images(
    client: docker.DockerClient, swarm: Swarm, contexts: dict[str, dict[str, bytes]], timeout: float = 300
) -> dict[str, str]:
    """Build each `tag` from its context files on the first manager, then load them on every node.

    `contexts` maps a tag to {file name: content}, a `Dockerfile` among them; FROM must name an
    image the nodes hold (the busybox image). Returns each tag's image ID.
    """
    manager = swarm.manager
    ids = {}
    for number, (tag, files) in enumerate(contexts.items()):
        folder = f"{NODE_TMP}/flotilla-build-{number}"
        exec_in(client, manager, f"rm -rf {folder}")
        for name, data in files.items():
            _put_file(client, manager, folder, name, data)
        exec_in(client, manager, f"docker build --quiet --tag {tag} {folder} >/dev/null", timeout)
        ids[tag] = exec_in(client, manager, f"docker image inspect --format '{{{{.Id}}}}' {tag}")
    tags = " ".join(contexts)
    exec_in(client, manager, f"docker save --output {NODE_TMP}/flotilla-built.tar {tags}", timeout)
    saved = client.containers.get(manager.name).get_archive(f"{NODE_TMP}/flotilla-built.tar")[0]
    with tarfile.open(fileobj=io.BytesIO(b"".join(saved))) as archive:
        data = archive.extractfile("flotilla-built.tar").read()

    def load(host: testhosts.Host) -> None:
        _put_file(client, host, NODE_TMP, "flotilla-built.tar", data)
        exec_in(client, host, f"docker load --input {NODE_TMP}/flotilla-built.tar >/dev/null", timeout)

    others = swarm.nodes[1:]
    if others:
        with ThreadPoolExecutor(max_workers=len(others)) as pool:
            list(pool.map(load, others))
    for host in swarm.nodes:
        for tag, image_id in ids.items():
            found = exec_in(client, host, f"docker image inspect --format '{{{{.Id}}}}' {tag}")
            if found != image_id:
                raise RuntimeError(f"{host.name} holds {tag} as {found}, the manager as {image_id}")
    return ids
