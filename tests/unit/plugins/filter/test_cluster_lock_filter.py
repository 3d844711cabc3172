# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

from ansible_collections.flotilla.cluster.plugins.filter.cluster_lock import flotilla_lock_released


def test_filter_takes_a_single_result_or_a_registered_loop():
    assert flotilla_lock_released({"action": "remove"}) is True
    assert flotilla_lock_released({"results": [{"unreachable": True}, {"action": "remove"}]}) is True
    assert flotilla_lock_released({"results": [{"unreachable": True}]}) is False
    assert flotilla_lock_released(None) is False
