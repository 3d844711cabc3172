# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The k3s roles' decisions as filters: config.yaml, input and layout checks, host verdicts, kubeconfig.

Thin wrappers: the logic lives in module_utils/k3s_config.py and module_utils/k3s_preflight.py,
where tables of cases test it.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.flotilla.cluster.plugins.module_utils import k3s_config, k3s_preflight


def k3s_config_render(settings, role):
    try:
        return k3s_config.render_config(role, dict(settings or {}))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def k3s_input_errors(settings):
    settings = dict(settings or {})
    return k3s_config.input_errors(settings) + k3s_config.registries_errors(settings.get("registries"))


def k3s_layout_errors(servers, agents, swarm_hosts, endpoints, options=None):
    options = dict(options or {})
    return k3s_preflight.layout_errors(
        list(servers or []),
        list(agents or []),
        list(swarm_hosts or []),
        dict(endpoints or {}),
        allow_swarm_overlap=bool(options.get("allow_swarm_overlap")),
        external_datastore=bool(options.get("external_datastore")),
        allow_even_servers=bool(options.get("allow_even_servers")),
    )


def k3s_host_errors(results, require_cgroup_v2=False):
    if not isinstance(results, dict):
        raise AnsibleFilterError("k3s_host_errors expects a mapping of host name to {role, measured}")
    errors = []
    for host, entry in sorted(results.items()):
        entry = dict(entry or {})
        errors.extend(
            k3s_preflight.host_errors(
                host, entry.get("role", "agent"), dict(entry.get("measured") or {}), require_cgroup_v2
            )
        )
    errors.extend(
        k3s_preflight.cluster_host_errors(
            {h: dict((e or {}).get("measured") or {}) for h, e in results.items()}
        )
    )
    return errors


def k3s_kubeconfig(doc, server_url, name):
    try:
        return k3s_config.rewrite_kubeconfig(doc, server_url, name)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {
            "k3s_config": k3s_config_render,
            "k3s_input_errors": k3s_input_errors,
            "k3s_layout_errors": k3s_layout_errors,
            "k3s_host_errors": k3s_host_errors,
            "k3s_kubeconfig": k3s_kubeconfig,
        }
