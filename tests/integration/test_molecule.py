"""Each Molecule scenario is one test: create, converge, idempotence, verify, destroy.

Driving Molecule from pytest makes pytest's summary line count every scenario, and prints each
scenario's duration so CI time stays visible.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(path.parent.name for path in (ROOT / "molecule").glob("*/molecule.yml"))


def test_scenarios_exist():
    assert SCENARIOS, "no Molecule scenarios found under molecule/"


# Scenarios that need something no machine that builds flotilla has: (variable, why).
GATED = {
    "k3s": (
        "FLOTILLA_K3S_AIRGAP_DIR",
        "machine limit: no k3s binary can be obtained here (not in Debian, PyPI or npm; no GitHub "
        "downloads); set FLOTILLA_K3S_AIRGAP_DIR to an air-gap bundle directory to run molecule/k3s",
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario, tool_env, record_property):
    variable, reason = GATED.get(scenario, (None, ""))
    if variable and not os.environ.get(variable):
        pytest.skip(reason)
    started = time.monotonic()
    result = subprocess.run(
        ["molecule", "test", "-s", scenario],
        cwd=ROOT,
        env=tool_env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    # shown in the run's "figures" section (tests/conftest.py): the duration, and what a scenario
    # prints for CI (the upgrade's load and quorum summary, for converge and for idempotence)
    record_property("figure", f"[molecule] scenario {scenario}: rc={result.returncode} in {seconds:.0f}s")
    for line in _figures(output):
        record_property("figure", f"[molecule] scenario {scenario}: {line}")
    assert result.returncode == 0, (
        f"molecule test -s {scenario} failed (rc {result.returncode}):\n{output[-8000:]}"
    )


def _figures(stdout: str) -> list[str]:
    """The summary lines a scenario prints ("traffic: ..."), unwrapped from Ansible's YAML output."""
    words = " ".join(stdout.split())
    out = []
    start = words.find("traffic: ")
    while start != -1:
        end = words.find("leaders ", start)
        stop = words.find("'", end) if end != -1 else -1
        out.append(words[start : stop if stop != -1 else start + 400])
        start = words.find("traffic: ", start + 1)
    return out
