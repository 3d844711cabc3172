"""Test files have unique names: pytest (rootdir-relative, no packages) cannot collect two test
modules with the same basename in one run, and reports an import-file mismatch instead."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_test_module_names_are_unique():
    names = Counter(path.name for path in (ROOT / "tests").rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
