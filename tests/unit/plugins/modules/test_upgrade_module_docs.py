# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The rolling-upgrade and status modules: argument_spec equals DOCUMENTATION (STYLE.md section 8)."""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.flotilla.cluster.plugins.modules import (
    swarm_lock,
    swarm_node_ready,
    swarm_status,
    swarm_upgrade_plan,
)
from test_module_docs import _from_docs, _from_spec

MODULES = [swarm_lock, swarm_node_ready, swarm_status, swarm_upgrade_plan]
RESULT_KEYS = {
    swarm_lock: {"lock", "holder", "action"},
    swarm_node_ready: {"ready", "node", "engine_version", "waiting_for", "elapsed"},
    swarm_status: {"status", "lines"},
    swarm_upgrade_plan: {"plan", "step"},
}


def _name(module):
    return module.__name__.rsplit(".", 1)[-1]


@pytest.mark.parametrize("module", MODULES, ids=_name)
def test_argument_spec_matches_documentation(module):
    assert _from_spec(module.ARGUMENT_SPEC) == _from_docs(yaml.safe_load(module.DOCUMENTATION)["options"])


@pytest.mark.parametrize("module", MODULES, ids=_name)
def test_examples_use_only_documented_options(module):
    options = yaml.safe_load(module.DOCUMENTATION)["options"]
    for example in yaml.safe_load(module.EXAMPLES):
        assert set(example[f"flotilla.cluster.{_name(module)}"] or {}) <= set(options), example["name"]


@pytest.mark.parametrize("module", MODULES, ids=_name)
def test_return_documents_the_result_keys(module):
    assert RESULT_KEYS[module] | {"msg"} <= set(yaml.safe_load(module.RETURN))
