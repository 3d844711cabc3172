# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.flotilla.cluster.plugins.filter.acting_manager import flotilla_acting_managers


def probe(manager=True):
    return {"swarm": {"state": "active", "is_manager": manager}}


def test_filter_merges_loop_results_and_excludes_one_host_by_name():
    loop = {"results": [{"item": "m3", **probe()}]}
    assert flotilla_acting_managers({"m1": probe()}, ["m1", "m2", "m3"], "m1", loop) == ["m3"]
    assert flotilla_acting_managers({"m1": probe()}, ["m1", "m2", "m3"], None, loop) == ["m1", "m3"]


def test_filter_refuses_a_non_mapping():
    with pytest.raises(AnsibleFilterError):
        flotilla_acting_managers([], ["m1"])
