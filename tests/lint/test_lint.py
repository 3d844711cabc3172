"""Lint is part of the test run: ruff, yamllint and ansible-lint (production profile)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["yamllint", "--strict", "."],
        ["ansible-lint", "--profile", "production"],
    ],
    ids=["ruff", "ruff-format", "yamllint", "ansible-lint"],
)
def test_lint(command):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", NO_COLOR="1")
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    )
