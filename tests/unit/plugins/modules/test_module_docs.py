# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Each module's argument_spec says exactly what its DOCUMENTATION says (STYLE.md section 8)."""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.flotilla.cluster.plugins.modules import swarm_node, swarm_rollout

MODULES = [swarm_rollout, swarm_node]


def _from_docs(options: dict) -> dict:
    normalized = {}
    for name, doc in options.items():
        entry = {
            "type": doc.get("type", "str"),
            "required": doc.get("required", False),
            "default": doc.get("default"),
            "choices": doc.get("choices"),
            "elements": doc.get("elements"),
        }
        if "suboptions" in doc:
            entry["options"] = _from_docs(doc["suboptions"])
        normalized[name] = entry
    return normalized


def _from_spec(spec: dict) -> dict:
    normalized = {}
    for name, arg in spec.items():
        entry = {
            "type": arg.get("type", "str"),
            "required": arg.get("required", False),
            "default": arg.get("default"),
            "choices": arg.get("choices"),
            "elements": arg.get("elements"),
        }
        if "options" in arg:
            entry["options"] = _from_spec(arg["options"])
        normalized[name] = entry
    return normalized


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_argument_spec_matches_documentation(module):
    documented = yaml.safe_load(module.DOCUMENTATION)
    assert _from_spec(module.ARGUMENT_SPEC) == _from_docs(documented["options"])


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_examples_use_only_documented_options(module):
    options = yaml.safe_load(module.DOCUMENTATION)["options"]
    fqcn = f"flotilla.cluster.{module.__name__.rsplit('.', 1)[-1]}"
    examples = yaml.safe_load(module.EXAMPLES)
    assert examples
    for example in examples:
        assert set(example[fqcn]) <= set(options), example["name"]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_return_documents_the_result_keys(module):
    returned = set(yaml.safe_load(module.RETURN))
    assert {"msg"} <= returned
    if module is swarm_rollout:
        assert {
            "service_id",
            "image_resolution",
            "update_state",
            "tasks",
            "rolled_back",
            "elapsed",
        } <= returned
    else:
        assert {"node", "quorum", "drain", "elapsed"} <= returned
