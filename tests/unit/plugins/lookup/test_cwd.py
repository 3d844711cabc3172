# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.lookup.cwd import LookupModule


def test_returns_the_process_working_directory_not_pwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", "/somewhere/stale")  # what a subprocess started with cwd= inherits
    assert LookupModule().run([]) == [str(tmp_path)]


def test_refuses_terms():
    with pytest.raises(ValueError, match="no terms"):
        LookupModule().run(["x"])
