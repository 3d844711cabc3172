# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The swarm role's host preflight decision, over every host's swarm_preflight result at once.

A thin wrapper: the decisions live in module_utils/preflight_checks.py, where unit tests drive
them with tables of measured values (clock skew and a full disk cannot be produced on test hosts).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.flotilla.cluster.plugins.module_utils.preflight_checks import preflight_errors


def swarm_preflight_errors(results, planned_hostnames=None):
    if not isinstance(results, dict):
        raise AnsibleFilterError(
            "swarm_preflight_errors expects a mapping of host name to swarm_preflight result"
        )
    planned = {host: str(name or "") for host, name in (planned_hostnames or {}).items()}
    return preflight_errors({host: dict(result or {}) for host, result in results.items()}, planned)


class FilterModule:
    def filters(self):
        return {"swarm_preflight_errors": swarm_preflight_errors}
