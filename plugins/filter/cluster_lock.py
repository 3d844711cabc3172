# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Whether a rolling run's lock release worked, over the attempts made manager after manager.

A thin wrapper: the decision lives in module_utils/cluster_lock.py (table-tested).
"""

from __future__ import annotations

from ansible_collections.flotilla.cluster.plugins.module_utils.cluster_lock import released_by


def flotilla_lock_released(results) -> bool:
    """True when one of the registered swarm_lock state=absent results shows the lock gone."""
    if isinstance(results, dict):
        results = results.get("results", [results])
    return released_by(list(results or []))


class FilterModule:
    def filters(self):
        return {"flotilla_lock_released": flotilla_lock_released}
