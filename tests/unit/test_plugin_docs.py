"""Every plugin the collection ships is documented for `ansible-doc`, and the docker action group
names every module that talks to an engine."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENV = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", ANSIBLE_NOCOLOR="1")


def _python_plugins(kind: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / "plugins" / kind).glob("*.py") if p.stem != "__init__")


def _filter_names() -> list[str]:
    names = []
    for stem in _python_plugins("filter"):
        module = importlib.import_module(f"ansible_collections.flotilla.cluster.plugins.filter.{stem}")
        names.extend(module.FilterModule().filters())
    return sorted(names)


PLUGINS = {
    "module": _python_plugins("modules"),
    "filter": _filter_names(),
    "lookup": _python_plugins("lookup"),
    "callback": _python_plugins("callback"),
}


def _ansible_doc(kind: str, names: list[str]) -> dict:
    result = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", kind, "--json", *(f"flotilla.cluster.{n}" for n in names)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("kind", sorted(PLUGINS))
def test_every_plugin_has_documentation(kind):
    names = PLUGINS[kind]
    assert names, f"no {kind} plugins found"
    docs = _ansible_doc(kind, names)
    for name in names:
        entry = docs.get(f"flotilla.cluster.{name}") or {}
        doc = entry.get("doc") or {}
        assert doc.get("short_description"), f"{kind} {name} has no documentation for ansible-doc"
        if kind in ("module", "filter", "lookup"):
            assert entry.get("examples"), f"{kind} {name} has no EXAMPLES"


def _takes_docker_host(name: str) -> bool:
    module = importlib.import_module(f"ansible_collections.flotilla.cluster.plugins.modules.{name}")
    return "docker_host" in (yaml.safe_load(module.DOCUMENTATION).get("options") or {})


def test_docker_action_group_lists_exactly_the_modules_that_take_docker_host():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    group = sorted(runtime["action_groups"]["docker"])
    assert group == sorted(name for name in PLUGINS["module"] if _takes_docker_host(name))


def test_module_defaults_through_the_action_group_reach_the_module(tmp_path):
    # A real run on the controller: the group's docker_host must reach swarm_status, which then
    # fails to connect to that (closed) address and names it.
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "module_defaults": {
                        "group/flotilla.cluster.docker": {"docker_host": "tcp://127.0.0.1:9"}
                    },
                    "tasks": [{"name": "read", "flotilla.cluster.swarm_status": {}}],
                }
            ]
        )
    )
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
        cwd=ROOT,
        env=dict(ENV, ANSIBLE_PYTHON_INTERPRETER=sys.executable),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "127.0.0.1:9" in result.stdout, result.stdout[-3000:]
