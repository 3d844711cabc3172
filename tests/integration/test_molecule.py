"""Each Molecule scenario is one test: create, converge, idempotence, verify, destroy.

Driving Molecule from pytest makes pytest's summary line count every scenario, and prints each
scenario's duration so CI time stays visible.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(path.parent.name for path in (ROOT / "molecule").glob("*/molecule.yml"))


def test_scenarios_exist():
    assert SCENARIOS, "no Molecule scenarios found under molecule/"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario, tool_env, capsys):
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
    with capsys.disabled():
        print(f"\n[molecule] scenario {scenario}: rc={result.returncode} in {seconds:.0f}s")
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"molecule test -s {scenario} failed (rc {result.returncode}):\n{output[-8000:]}"
    )
