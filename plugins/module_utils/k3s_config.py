# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""What goes into /etc/rancher/k3s/config.yaml, rendered from the roles' structured variables.

k3s reads each key of its config file as the command-line flag of the same name, so every key
rendered here must be a flag of the pinned release: RENDERED_KEYS lists them all, and a unit test
holds them against a flag list taken from k3s's own source (tests/unit/.../fixtures/k3s_flags.json).
There is no free-form pass-through: a key that is not a flag would stop k3s at start, on the
host, after the run changed it.

The token never appears in the file: the file names ``token-file``, which the role writes with
mode 0600. Pure, Python 3.9 syntax.
"""

from __future__ import annotations

import ipaddress
import re

RENDERED_KEYS = {
    "server": (
        "cluster-init",
        "server",
        "token-file",
        "node-name",
        "node-ip",
        "advertise-address",
        "tls-san",
        "node-label",
        "node-taint",
        "disable",
        "flannel-backend",
        "cluster-cidr",
        "service-cidr",
        "kubelet-arg",
        "datastore-endpoint",
        "write-kubeconfig-mode",
        "private-registry",
    ),
    "agent": (
        "server",
        "token-file",
        "node-name",
        "node-ip",
        "node-label",
        "node-taint",
        "kubelet-arg",
        "private-registry",
    ),
}
DISABLE_ITEMS = ("coredns", "servicelb", "traefik", "local-storage", "metrics-server")
FLANNEL_BACKENDS = ("none", "vxlan", "host-gw", "wireguard-native")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TOKEN_FILE = "/etc/rancher/k3s/flotilla-token"  # noqa: S105  a path, not a secret
REGISTRIES_FILE = "/etc/rancher/k3s/registries.yaml"

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY_RE = re.compile(rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME}$")
_LABEL_VALUE_RE = re.compile(rf"^({_NAME})?$")
_TAINT_RE = re.compile(r"^([^=:]+)(?:=([^:]*))?:([A-Za-z]+)$")
_KUBELET_ARG_RE = re.compile(r"^[a-z0-9][-a-z0-9]*=.*$")


def _cidr_errors(name: str, value) -> list[str]:
    errors = []
    for part in [p.strip() for p in str(value).split(",") if p.strip()]:
        try:
            ipaddress.ip_network(part, strict=True)
        except ValueError:
            errors.append(
                f"{name} must be CIDR ranges such as 10.42.0.0/16 "
                f"(comma-separated for dual stack), got {part!r}"
            )
    return errors


def input_errors(settings: dict) -> list[str]:
    """Every problem with the structured settings, each naming the variable and what to fix."""
    errors: list[str] = []
    labels = settings.get("node_labels") or {}
    if not isinstance(labels, dict):
        errors.append("k3s_node_labels must be a mapping of label to value, such as {zone: a}")
        labels = {}
    for key, value in labels.items():
        if not _LABEL_KEY_RE.match(str(key)):
            errors.append(
                f"k3s_node_labels: {key!r} is not a Kubernetes label key "
                "([prefix/]name, 63 characters at most)"
            )
        if isinstance(value, (dict, list)) or not _LABEL_VALUE_RE.match(str(value)):
            errors.append(
                f"k3s_node_labels.{key}: {value!r} is not a label value "
                "(63 characters at most, alphanumeric, - _ .)"
            )
    for taint in settings.get("node_taints") or []:
        match = _TAINT_RE.match(str(taint))
        if not match or match.group(3) not in TAINT_EFFECTS:
            errors.append(
                f"k3s_node_taints: {taint!r} is not key[=value]:Effect "
                f"with Effect one of {', '.join(TAINT_EFFECTS)}"
            )
    for item in settings.get("disable") or []:
        if item not in DISABLE_ITEMS:
            errors.append(
                f"k3s_server_disable: {item!r} is not a packaged component "
                f"(known: {', '.join(DISABLE_ITEMS)})"
            )
    backend = settings.get("flannel_backend") or "vxlan"
    if backend not in FLANNEL_BACKENDS:
        errors.append(
            f"k3s_server_flannel_backend must be one of {', '.join(FLANNEL_BACKENDS)}, got {backend!r}"
        )
    for var in ("cluster_cidr", "service_cidr"):
        if settings.get(var):
            errors.extend(_cidr_errors(f"k3s_server_{var}", settings[var]))
    for arg in settings.get("kubelet_args") or []:
        if not _KUBELET_ARG_RE.match(str(arg)):
            errors.append(
                f"k3s_kubelet_args: {arg!r} must be name=value without leading dashes, such as max-pods=150"
            )
    for var in ("node_ip", "advertise_address"):
        if settings.get(var):
            try:
                ipaddress.ip_address(settings[var])
            except ValueError:
                errors.append(f"k3s_{var} must be an IP address, got {settings[var]!r}")
    for san in settings.get("tls_san") or []:
        if not str(san).strip() or " " in str(san):
            errors.append(f"k3s_server_tls_san: {san!r} is not a host name or address")
    endpoint = settings.get("datastore_endpoint") or ""
    if endpoint and settings.get("cluster_init"):
        errors.append(
            "k3s_server_datastore_endpoint is set: an external datastore replaces embedded etcd, "
            "so there is no etcd cluster to initialise; leave it empty for embedded etcd"
        )
    return errors


def render_config(role: str, settings: dict) -> dict:
    """The config.yaml mapping for a ``server`` or ``agent`` node, keys in a stable order.

    ``settings``: cluster_init (bool, first server of an embedded-etcd cluster), server_url (empty
    for that first server), token_file (bool: write the token-file key), node_name, node_ip,
    advertise_address, tls_san, node_labels, node_taints, disable, flannel_backend, cluster_cidr,
    service_cidr, kubelet_args, datastore_endpoint, registries (bool).
    Empty values are left out, so k3s's own default applies.
    """
    if role not in RENDERED_KEYS:
        raise ValueError(f"role must be server or agent, got {role!r}")
    labels = settings.get("node_labels") or {}
    values = {
        "cluster-init": bool(settings.get("cluster_init")) or None,
        "server": settings.get("server_url") or None,
        "token-file": TOKEN_FILE if settings.get("token_file") else None,
        "node-name": settings.get("node_name") or None,
        "node-ip": settings.get("node_ip") or None,
        "advertise-address": settings.get("advertise_address") or None,
        "tls-san": list(dict.fromkeys(str(s) for s in settings.get("tls_san") or [])) or None,
        "node-label": [f"{k}={v}" for k, v in sorted(labels.items())] or None,
        "node-taint": [str(t) for t in settings.get("node_taints") or []] or None,
        "disable": sorted(set(settings.get("disable") or [])) or None,
        "flannel-backend": settings.get("flannel_backend") or None,
        "cluster-cidr": settings.get("cluster_cidr") or None,
        "service-cidr": settings.get("service_cidr") or None,
        "kubelet-arg": [str(a) for a in settings.get("kubelet_args") or []] or None,
        "datastore-endpoint": settings.get("datastore_endpoint") or None,
        # the kubeconfig on a server holds cluster-admin credentials
        "write-kubeconfig-mode": "0600",
        "private-registry": REGISTRIES_FILE if settings.get("registries") else None,
    }
    return {key: values[key] for key in RENDERED_KEYS[role] if values.get(key) is not None}


def registries_errors(registries) -> list[str]:
    """registries.yaml carries ``mirrors`` and ``configs`` (k3s's private registry file)."""
    if not registries:
        return []
    if not isinstance(registries, dict):
        return ["k3s_registries must be a mapping with mirrors and/or configs"]
    unknown = sorted(set(registries) - {"mirrors", "configs"})
    if unknown:
        return [f"k3s_registries: unknown key(s) {', '.join(unknown)} (known: mirrors, configs)"]
    return []


def rewrite_kubeconfig(doc: dict, server_url: str, name: str) -> dict:
    """The server's kubeconfig as the controller should keep it.

    k3s writes one cluster, user and context named ``default`` pointing at https://127.0.0.1:6443;
    the copy names all three after the cluster (so several clusters merge into one kubeconfig
    without clashing) and points at ``server_url`` (the API endpoint, or the first server).
    """
    if not isinstance(doc, dict) or not doc.get("clusters") or not doc.get("contexts"):
        raise ValueError("not a kubeconfig: it lacks clusters and contexts")
    if len(doc["clusters"]) != 1 or len(doc["contexts"]) != 1 or len(doc.get("users") or []) != 1:
        raise ValueError("expected the single cluster, user and context k3s writes")
    out = dict(doc)
    out["clusters"] = [{"name": name, "cluster": dict(doc["clusters"][0]["cluster"], server=server_url)}]
    out["users"] = [{"name": name, "user": doc["users"][0]["user"]}]
    out["contexts"] = [{"name": name, "context": {"cluster": name, "user": name}}]
    out["current-context"] = name
    return out
