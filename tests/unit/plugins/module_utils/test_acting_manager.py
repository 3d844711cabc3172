# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.acting_manager import (
    acting_managers,
    answers_as_manager,
    results_by_host,
)


def probe(state="active", manager=True, **extra):
    return {"changed": False, "swarm": {"state": state, "is_manager": manager}, **extra}


@pytest.mark.parametrize(
    ("result", "answers"),
    [
        (probe(), True),
        (probe(manager=False), False),  # a worker, or a demoted manager
        (probe(state="locked", manager=False), False),  # autolocked after a restart
        ({"unreachable": True, "msg": "ssh: connect timed out"}, False),
        ({"failed": True, "msg": "docker info failed"}, False),
        ({"skipped": True}, False),
        (None, False),
        ("garbage", False),
    ],
)
def test_answers_as_manager(result, answers):
    assert answers_as_manager(result) is answers


def test_inventory_order_exclusion_and_outside_the_limit():
    results = {"m2": probe(), "w1": probe(manager=False)}
    loop = {"results": [{"item": "m1", **probe()}, {"item": "m3", "unreachable": True}]}
    merged = {**results, **results_by_host(loop)}
    assert acting_managers(merged, ["m1", "m2", "m3"]) == ["m1", "m2"]
    assert acting_managers(merged, ["m1", "m2", "m3"], exclude=["m1"]) == ["m2"]
    assert acting_managers(merged, ["m1", "m2", "m3"], exclude=["m1", "m2"]) == []
    # a limit to one worker: only the loop over the managers outside it tells
    assert acting_managers(results_by_host(loop), ["m1", "m2", "m3"]) == ["m1"]


@pytest.mark.parametrize("loop", [None, {}, {"results": []}, {"results": [{"item": 3}]}, "x"])
def test_results_by_host_tolerates_skipped_or_empty_loops(loop):
    assert results_by_host(loop) == {}
