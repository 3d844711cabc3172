"""Test-only: a swarm behind haproxy running the rollout web service, for tests and benchmarks.

`start` forms the swarm with playbooks/site.yml (swarm_fixture), starts haproxy on its own test
host meanwhile, builds the service versions on the nodes, and deploys the first version with
playbooks/rollout.yml. `rollout` runs playbooks/rollout.yml under load and returns what the
playbook and the load saw. Traffic goes only to the lab's own test hosts.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import yaml

from flotilla.testhosts import balancer, rollout_app, swarm_fixture
from flotilla.testhosts.load import HttpLoad, LoadReport, Sampler

Log = Callable[[str], None]
SERVICE = "flotilla-web"


@dataclass
class Lab:
    client: docker.DockerClient
    swarm: swarm_fixture.Swarm
    address: str
    port: int
    env: dict[str, str]
    image_ids: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class RolloutRun:
    """One run of playbooks/rollout.yml under load."""

    returncode: int
    results: list[dict]
    report: str
    plan: str
    load: LoadReport
    slow: LoadReport
    pages: list[tuple[float, object]]
    seconds: float
    output: str

    def result(self, name: str = SERVICE) -> dict:
        for result in self.results:
            if result.get("item", {}).get("name") == name:
                return result
        raise KeyError(f"no rollout result for {name}:\n{self.output[-4000:]}")

    def pages_seen(self) -> dict[str, tuple[int, float, float]]:
        """Each page the twice-a-second sampler saw: (samples, first seen, last seen) in seconds."""
        seen: dict[str, tuple[int, float, float]] = {}
        for at, value in self.pages:
            text = value if isinstance(value, str) else f"error: {value}"
            count, first, _ = seen.get(text, (0, at, at))
            seen[text] = (count + 1, first, at)
        return seen

    def pages_summary(self) -> str:
        return "; ".join(
            f"{text!r} x{count} (+{first:.1f}s..+{last:.1f}s)"
            for text, (count, first, last) in self.pages_seen().items()
        )


def get(address: str, port: int, path: str = "/", timeout: float = 3.0) -> tuple[int, str]:
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        answer = connection.getresponse()
        return answer.status, answer.read().decode(errors="replace").strip()
    finally:
        connection.close()


def page(lab: Lab) -> str:
    status, body = get(lab.address, lab.port)
    if status != 200:
        raise RuntimeError(f"HTTP {status}")
    return body


def backends_up(lab: Lab) -> int:
    """How many of haproxy's servers pass their health checks (its stats page, CSV)."""
    _, body = get(lab.address, balancer.STATS_PORT, "/;csv")
    rows = csv.DictReader(io.StringIO(body.lstrip("# ")))
    return sum(
        1
        for row in rows
        if row.get("pxname") == "nodes"
        and row.get("svname", "").startswith("node")
        and row.get("status", "").startswith("UP")
    )


def wait_backends_up(lab: Lab, timeout: float = 60, expected: int | None = None) -> None:
    """Wait until haproxy sees `expected` backends up (by default one per node)."""
    wanted = len(lab.swarm.nodes) if expected is None else expected
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        try:
            count = backends_up(lab)
        except OSError:
            count = 0
        if count >= wanted:
            return
        time.sleep(0.5)
    raise RuntimeError(f"haproxy sees {count} of {wanted} backends up after {timeout:.0f}s")


def service_state(lab: Lab, name: str = SERVICE) -> dict:
    """The service's image, image-ID label, update state and running tasks, read on the manager."""
    inspect = json.loads(
        swarm_fixture.exec_in(lab.client, lab.swarm.manager, f"docker service inspect {name}", 30)
    )[0]
    spec = inspect["Spec"]
    tasks = swarm_fixture.exec_in(
        lab.client,
        lab.swarm.manager,
        f"docker service ps {name} --filter desired-state=running --format '{{{{.Node}}}} {{{{.Image}}}} "
        "{{.CurrentState}}'",
        30,
    ).splitlines()
    return {
        "image": spec["TaskTemplate"]["ContainerSpec"]["Image"],
        "image_id": spec.get("Labels", {}).get("org.flotilla.image-id", ""),
        "update_state": (inspect.get("UpdateStatus") or {}).get("State"),
        "constraints": (spec["TaskTemplate"].get("Placement") or {}).get("Constraints") or [],
        "running": [line for line in tasks if " Running " in f" {line} "],
    }


def run_rollout(
    lab: Lab, services: list[dict], timeout: float = 420, extra_vars: dict | None = None
) -> tuple[subprocess.CompletedProcess, list[dict], str, str]:
    """playbooks/rollout.yml with the JSON callback: the process, per-item results, report and plan."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="flotilla-release-") as release:
        yaml.safe_dump({"flotilla_rollout_services": services, **(extra_vars or {})}, release)
        release.flush()
        env = dict(
            lab.env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_CALLBACK_RESULT_FORMAT="json"
        )
        process = swarm_fixture.run_playbook(
            "playbooks/rollout.yml", lab.swarm.inventory, env, "-e", f"@{release.name}", timeout=timeout
        )
    results: list[dict] = []
    report = plan = ""
    try:
        document = json.loads(process.stdout[process.stdout.index("{") :])
    except ValueError:
        return process, results, report, plan
    for play in document.get("plays", []):
        for task in play.get("tasks", []):
            name = task["task"]["name"]
            for host_result in task["hosts"].values():
                if name.startswith("Roll out each service"):
                    results = host_result.get("results", [])
                elif name.startswith("Report each service"):
                    report = host_result.get("msg", "")
                elif name == "Show the plan":
                    plan = host_result.get("msg", "")
    return process, results, report, plan


def rollout_under_load(
    lab: Lab,
    services: list[dict],
    workers: int = 4,
    slow_workers: int = 2,
    max_seconds: float = 420,
    extra_vars: dict | None = None,
) -> RolloutRun:
    """Run playbooks/rollout.yml under load through haproxy; a sampler records the page meanwhile.

    `workers` clients ask for the quick page; `slow_workers` clients ask for the slow one, so some
    requests are always in flight on each task, which is what a task killed mid-request breaks.
    """
    load = HttpLoad(lab.address, lab.port, workers=workers, max_seconds=max_seconds, timeout=3.0)
    slow = HttpLoad(
        lab.address,
        lab.port,
        path=rollout_app.SLOW_PATH,
        workers=slow_workers,
        max_seconds=max_seconds,
        timeout=5.0,
    )
    started = time.monotonic()
    with Sampler(lambda: page(lab), interval=0.5, max_seconds=max_seconds) as sampler:
        load.start()
        slow.start()
        try:
            process, results, report, plan = run_rollout(
                lab, services, timeout=max_seconds, extra_vars=extra_vars
            )
        finally:
            figures = load.stop()
            slow_figures = slow.stop()
    return RolloutRun(
        returncode=process.returncode,
        results=results,
        report=report,
        plan=plan,
        load=figures,
        slow=slow_figures,
        pages=list(sampler.samples),
        seconds=time.monotonic() - started,
        output=process.stdout[-20000:] + process.stderr[-4000:],
    )


def start(
    client: docker.DockerClient,
    owner: str,
    workdir: Path,
    busybox_archive: Path,
    apt_port: int | None,
    env: dict[str, str] | None = None,
    workers: int = 2,
    managers: int = 1,
    os_name: str = "debian12",
    replicas: int | None = None,
    drain: float = rollout_app.DRAIN_SECONDS,
    swarm_vars: dict | None = None,
    before_site: Callable[[list], None] | None = None,
    log: Log = print,
) -> Lab:
    """Form the swarm, front it with haproxy, build v1/v2/broken and deploy v1.

    By default v1 runs on every node (`replicas` = node count, at most one task per node); fewer
    replicas leave room for a drained node's task to move. `drain` is the v1 tasks' drain on stop
    (what a rollout away from v1 gets).
    """
    front: dict[str, tuple[str, int]] = {}

    def balance(nodes):
        backends = [(node.address, rollout_app.PORT) for node in nodes]
        front["haproxy"] = balancer.start_balancer(client, owner, backends, apt_port, check_path="/health")

    started = time.monotonic()
    swarm = swarm_fixture.form_swarm(
        client,
        owner,
        workdir,
        busybox_archive,
        managers=managers,
        workers=workers,
        os_name=os_name,
        apt_port=apt_port,
        env=env,
        swarm_vars=swarm_vars,
        alongside=balance,
        before_site=before_site,
        log=log,
    )
    seconds = dict(swarm.seconds, formed=time.monotonic() - started)
    started = time.monotonic()
    ids = swarm_fixture.build_images(client, swarm, rollout_app.contexts())
    seconds["build"] = time.monotonic() - started
    address, port = front["haproxy"]
    lab = Lab(client, swarm, address, port, swarm_fixture.tool_env(env), ids, seconds)
    started = time.monotonic()
    count = len(swarm.nodes) if replicas is None else replicas
    options = rollout_app.service_options(SERVICE, "v1", replicas=count, drain=drain)
    process, _, report, _ = run_rollout(lab, [options])
    if process.returncode != 0:
        output = f"{report}\n{process.stdout[-6000:]}"
        raise RuntimeError(f"deploying v1 failed (rc {process.returncode}):\n{output}")
    wait_backends_up(lab, expected=count)
    seconds["deploy"] = time.monotonic() - started
    return lab
