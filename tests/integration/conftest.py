"""Integration tests run against real test hosts on the machine's Docker engine.

There is no skip for a missing engine: CI installs and starts one, and a machine without it
must fail loudly rather than report a green run that tested nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from flotilla.engine import EngineUnavailable, ensure_engine
from flotilla.testhosts.aptcache import ensure_apt_cache
from flotilla.testhosts.images import SUITES, build_all


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def engine():
    try:
        return ensure_engine()
    except EngineUnavailable as error:
        pytest.fail(f"integration tests need a Docker engine: {error}")


@pytest.fixture(scope="session")
def built_images(engine) -> dict[str, str]:
    """Host images for every OS and the busybox archive, built once (cached across runs)."""
    tags = build_all(engine, list(SUITES), ensure_apt_cache(), log=lambda line: print(line, file=sys.stderr))
    os.environ["FLOTILLA_BUSYBOX_TAR"] = tags["busybox"]
    return tags


@pytest.fixture(scope="session")
def tool_env(built_images) -> dict[str, str]:
    """Environment for ansible-playbook/molecule subprocesses: this venv's tools first on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["FLOTILLA_BUSYBOX_TAR"] = built_images["busybox"]
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env["PY_COLORS"] = "0"
    env["NO_COLOR"] = "1"
    return env
