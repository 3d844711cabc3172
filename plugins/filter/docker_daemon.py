# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Filters the docker role uses to check and render daemon.json on the controller.

Thin wrappers: the logic lives in module_utils/docker_daemon_config.py, where unit tests drive it.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.flotilla.cluster.plugins.module_utils.docker_daemon_config import (
    build_daemon_config,
    daemon_config_errors,
)


def docker_daemon_config_errors(settings, groups=()):
    """List of messages, each naming the offending variable; empty when the settings are valid."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError("docker_daemon_config_errors expects the role's settings mapping")
    return daemon_config_errors(settings, list(groups or ()))


def docker_daemon_config(settings):
    """The daemon.json content as a dict (render it with to_nice_json)."""
    errors = docker_daemon_config_errors(settings)
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    return build_daemon_config(settings)


class FilterModule:
    def filters(self):
        return {
            "docker_daemon_config": docker_daemon_config,
            "docker_daemon_config_errors": docker_daemon_config_errors,
        }
