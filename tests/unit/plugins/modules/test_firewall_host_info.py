# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""firewall_host_info: argument_spec equals DOCUMENTATION, and RETURN names every result key."""

from __future__ import annotations

import yaml
from ansible_collections.flotilla.cluster.plugins.modules import firewall_host_info
from test_module_docs import _from_docs, _from_spec


def test_argument_spec_matches_documentation():
    documented = yaml.safe_load(firewall_host_info.DOCUMENTATION)
    assert _from_spec(firewall_host_info.ARGUMENT_SPEC) == _from_docs(documented["options"])


def test_examples_use_only_documented_options():
    options = yaml.safe_load(firewall_host_info.DOCUMENTATION)["options"]
    for example in yaml.safe_load(firewall_host_info.EXAMPLES):
        assert set(example["flotilla.cluster.firewall_host_info"]) <= set(options)


def test_return_documents_the_result_keys():
    returned = set(yaml.safe_load(firewall_host_info.RETURN))
    assert returned == {
        "nft",
        "kernel_nf_tables",
        "other_firewalls",
        "table_loaded",
        "unit_present",
        "advertise",
    }
