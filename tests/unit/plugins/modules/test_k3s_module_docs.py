"""The k3s modules' argument_spec says exactly what their DOCUMENTATION says, and their examples
and return values are documented (the same rules as test_module_docs.py)."""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.flotilla.cluster.plugins.modules import k3s_host_info, k3s_lock, k3s_upgrade_plan
from test_module_docs import _from_docs, _from_spec

MODULES = [k3s_host_info, k3s_lock, k3s_upgrade_plan]
IDS = [m.__name__.rsplit(".", 1)[-1] for m in MODULES]


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_argument_spec_matches_documentation(module):
    documented = yaml.safe_load(module.DOCUMENTATION)
    assert _from_spec(module.ARGUMENT_SPEC) == _from_docs(documented["options"])


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_examples_use_only_documented_options(module):
    options = yaml.safe_load(module.DOCUMENTATION)["options"]
    fqcn = f"flotilla.cluster.{module.__name__.rsplit('.', 1)[-1]}"
    for example in yaml.safe_load(module.EXAMPLES):
        assert set(example[fqcn] or {}) <= set(options), example["name"]


@pytest.mark.parametrize(
    ("module", "keys"),
    [
        (k3s_host_info, {"msg", "cgroup_version", "listening_tcp", "binary_sha256", "k3s_running"}),
        (k3s_lock, {"msg", "holder", "action"}),
        (k3s_upgrade_plan, {"msg", "plan", "node"}),
    ],
    ids=IDS,
)
def test_return_documents_the_result_keys(module, keys):
    assert keys <= set(yaml.safe_load(module.RETURN))
