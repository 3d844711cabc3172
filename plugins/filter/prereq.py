# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The prereq role's decisions about a host's basics; the logic is in module_utils/host_basics.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.flotilla.cluster.plugins.module_utils.host_basics import (
    container_type,
    host_basics,
    hostname_error,
    planned_hostname,
)


def prereq_host_basics(detect_output, hostname, swap):
    try:
        return host_basics(str(hostname or ""), container_type(str(detect_output or "")), str(swap))
    except ValueError as error:
        raise AnsibleFilterError(str(error)) from error


def prereq_hostname_error(hostname):
    return hostname_error(str(hostname or "")) or ""


def prereq_planned_hostname(hostname):
    return planned_hostname(str(hostname or ""))


class FilterModule:
    def filters(self):
        return {
            "prereq_host_basics": prereq_host_basics,
            "prereq_hostname_error": prereq_hostname_error,
            "prereq_planned_hostname": prereq_planned_hostname,
        }
