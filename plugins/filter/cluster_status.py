# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""playbooks/status.yml's report, from the managers it asked in turn and the lock's holder.

A thin wrapper: the logic lives in module_utils/cluster_status.py, unit-tested with tables.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.flotilla.cluster.plugins.module_utils.cluster_status import status_report


def swarm_status_report(tries, not_reached, lock=None):
    if not isinstance(tries, list) or not isinstance(not_reached, dict):
        raise AnsibleFilterError(
            "swarm_status_report expects the list of swarm_status results and a mapping of "
            "unreachable manager to why"
        )
    return status_report([dict(t or {}) for t in tries], not_reached, dict(lock or {}))


class FilterModule:
    def filters(self):
        return {"swarm_status_report": swarm_status_report}
