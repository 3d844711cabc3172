# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Filters over swarm_host_info results: which managers can act for the others in a rolling run.

Thin wrappers: the decision lives in module_utils/acting_manager.py (table-tested).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.flotilla.cluster.plugins.module_utils.acting_manager import (
    acting_managers,
    results_by_host,
)


def flotilla_acting_managers(results, managers, exclude=None, loop_results=None):
    """Managers that answered as active managers: ``results`` {host: probe} plus a registered loop."""
    if not isinstance(results, dict):
        raise AnsibleFilterError(
            "flotilla_acting_managers expects a mapping of host name to swarm_host_info result"
        )
    merged = dict(results)
    merged.update(results_by_host(loop_results))
    if isinstance(exclude, str):
        exclude = [exclude]
    return acting_managers(merged, list(managers or []), exclude or [])


class FilterModule:
    def filters(self):
        return {"flotilla_acting_managers": flotilla_acting_managers}
