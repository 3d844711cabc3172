"""Reach the machine's own Docker engine, starting it when it is installed but not running.

Test hosts and the lab run as containers on this engine. On a workstation with systemd the
engine is a service; on CI machines there is no systemd as PID 1, so dockerd is started in
the background (docs/test-machines.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import docker
import docker.errors

DOCKERD_LOG = Path("/var/log/flotilla-dockerd.log")


class EngineUnavailable(RuntimeError):
    """The local Docker engine cannot be reached or started; the message says what to do."""


def _ping() -> docker.DockerClient | None:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except (docker.errors.DockerException, OSError):
        return None
    return client


def ensure_engine(start: bool = True, wait_seconds: int = 60) -> docker.DockerClient:
    """Return a client for the local engine, starting dockerd first when allowed and needed."""
    client = _ping()
    if client is not None:
        return client
    if not start or os.environ.get("DOCKER_HOST"):
        raise EngineUnavailable(
            "the Docker engine does not answer (docker info fails); start it, or unset DOCKER_HOST "
            "if it points at an engine that is gone"
        )
    if Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        subprocess.run(["systemctl", "start", "docker"], check=False)
    elif shutil.which("dockerd"):
        if os.geteuid() != 0:
            raise EngineUnavailable("dockerd is installed but not running, and starting it needs root")
        log = DOCKERD_LOG.open("ab")
        subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)  # noqa: S607
    else:
        raise EngineUnavailable(
            "no Docker engine is installed on this machine: install one (on Debian: "
            "apt-get install docker.io) and run the command again"
        )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        client = _ping()
        if client is not None:
            return client
        time.sleep(1)
    raise EngineUnavailable(
        f"dockerd was started but did not answer within {wait_seconds}s; see {DOCKERD_LOG}"
    )
