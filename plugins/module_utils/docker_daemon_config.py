# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The docker role's daemon.json: built from structured variables, checked before any host changes.

Two pure functions over one mapping of the role's ``docker_daemon_*`` / ``docker_tcp_api_*``
variables (names without the ``docker_`` prefix are never used: messages name the variable an
operator sets in the inventory):

* ``daemon_config_errors(settings, groups)`` lists every problem, each naming the variable and
  what is allowed, so the preflight reports all of them at once instead of one per run;
* ``build_daemon_config(settings)`` renders the dict written as /etc/docker/daemon.json.

Kept to Python 3.9 syntax: the filter plugin imports it on the controller, tests import it
directly, and nothing here needs Ansible.
"""

from __future__ import annotations

import ipaddress
import re

# The inventory groups whose hosts are (or will be) Swarm nodes. The engine refuses live-restore
# in swarm mode ("--live-restore daemon configuration is incompatible with swarm mode").
SWARM_GROUPS = ("swarm", "swarm_managers", "swarm_workers")

# daemon.json keys a structured variable owns; docker_daemon_extra may not set them, so there is
# one place to read each setting.
MANAGED_KEYS = {
    "log-driver": "docker_daemon_log_driver",
    "log-opts": "docker_daemon_log_opts",
    "registry-mirrors": "docker_daemon_registry_mirrors",
    "insecure-registries": "docker_daemon_insecure_registries",
    "data-root": "docker_daemon_data_root",
    "default-address-pools": "docker_daemon_default_address_pools",
    "metrics-addr": "docker_daemon_metrics_address",
    "live-restore": "docker_daemon_live_restore",
    "hosts": "docker_tcp_api_enabled",
    "tls": "docker_tcp_api_enabled",
    "tlsverify": "docker_tcp_api_enabled",
    "tlscacert": "docker_tcp_api_enabled",
    "tlscert": "docker_tcp_api_enabled",
    "tlskey": "docker_tcp_api_enabled",
}

# Where the role puts the TLS material on the host (see roles/docker/vars/main.yml).
TLS_DIR = "/etc/docker/tls"

_LOG_DRIVER_RE = re.compile(r"^[a-z0-9][a-z0-9_.:/-]*$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def _kind(value) -> str:
    """Plain type names for messages (Ansible hands over subclasses such as tagged strings)."""
    for kind, name in (
        (bool, "a boolean"),
        (str, "a string"),
        (int, "an integer"),
        (float, "a number"),
        (dict, "a dict"),
        (list, "a list"),
    ):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def _is_str(value) -> bool:
    return isinstance(value, str)


def _port_ok(text: str) -> bool:
    return text.isdigit() and 1 <= int(text) <= 65535


def _split_host_port(text: str):
    """Split ``host:port`` / ``[v6]:port``; (None, None) when there is no port."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        return (host, port) if sep else (None, None)
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:
        return None, None
    return host, port


def _host_ok(host: str) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOST_RE.match(host))


def _check_address_pools(pools) -> list:
    name = "docker_daemon_default_address_pools"
    if not isinstance(pools, list):
        return [f"{name} must be a list of {{base: CIDR, size: prefix length}}, got {_kind(pools)}"]
    errors = []
    for index, pool in enumerate(pools):
        where = f"{name}[{index}]"
        if not isinstance(pool, dict) or set(pool) != {"base", "size"}:
            errors.append(f"{where} must be a dict with exactly the keys base and size, got {pool!r}")
            continue
        base, size = pool["base"], pool["size"]
        try:
            network = ipaddress.ip_network(str(base), strict=True)
        except ValueError as exc:
            errors.append(f"{where}.base must be a network in CIDR form such as 10.200.0.0/16: {exc}")
            continue
        if "/" not in str(base):
            errors.append(f"{where}.base must carry a prefix length, e.g. {base}/16")
            continue
        if isinstance(size, bool) or not isinstance(size, int):
            errors.append(f"{where}.size must be an integer prefix length, got {size!r}")
            continue
        if not network.prefixlen <= size <= network.max_prefixlen:
            errors.append(
                f"{where}.size must be between the base prefix /{network.prefixlen} and "
                f"/{network.max_prefixlen} (the size of each network carved from {base}), got {size}"
            )
    return errors


def daemon_config_errors(settings: dict, groups=()) -> list:
    """Every problem with the daemon settings, each message naming the variable and what is allowed."""
    errors = []

    driver = settings.get("daemon_log_driver")
    if not _is_str(driver) or not _LOG_DRIVER_RE.match(driver):
        errors.append(
            "docker_daemon_log_driver must be a log driver name such as json-file, local, journald "
            f"or syslog, got {driver!r}"
        )

    opts = settings.get("daemon_log_opts")
    if not isinstance(opts, dict):
        errors.append(
            'docker_daemon_log_opts must be a dict of strings, e.g. {max-size: "10m", max-file: "3"}, '
            f"got {_kind(opts)}"
        )
    else:
        bad = sorted(str(k) for k, v in opts.items() if not _is_str(k) or not _is_str(v))
        if bad:
            errors.append(
                "docker_daemon_log_opts must be a dict of strings (the engine rejects numbers: quote "
                f'them, e.g. max-file: "3"); not strings: {", ".join(bad)}'
            )

    mirrors = settings.get("daemon_registry_mirrors")
    if not isinstance(mirrors, list) or not all(
        _is_str(m) and re.match(r"^https?://[^/\s]+(/\S*)?$", m) for m in mirrors
    ):
        errors.append(
            "docker_daemon_registry_mirrors must be a list of URLs starting with http:// or https://, "
            f"got {mirrors!r}"
        )

    insecure = settings.get("daemon_insecure_registries")
    if not isinstance(insecure, list) or not all(
        _is_str(r) and r and "://" not in r and " " not in r for r in insecure
    ):
        errors.append(
            "docker_daemon_insecure_registries must be a list of host[:port] or CIDR entries without "
            f"a scheme, e.g. registry.lan:5000 or 10.0.0.0/8, got {insecure!r}"
        )

    data_root = settings.get("daemon_data_root")
    if not _is_str(data_root) or (data_root and not data_root.startswith("/")):
        errors.append(f"docker_daemon_data_root must be empty or an absolute path, got {data_root!r}")

    errors.extend(_check_address_pools(settings.get("daemon_default_address_pools")))

    metrics = settings.get("daemon_metrics_address")
    if not _is_str(metrics):
        errors.append(f"docker_daemon_metrics_address must be a string host:port, got {metrics!r}")
    elif metrics:
        host, port = _split_host_port(metrics)
        if host is None or not _port_ok(port or "") or not _host_ok(host):
            errors.append(
                "docker_daemon_metrics_address must be host:port with a port 1-65535, e.g. "
                f"127.0.0.1:9323 or [::1]:9323, got {metrics!r}"
            )

    live_restore = settings.get("daemon_live_restore")
    extra = settings.get("daemon_extra")
    if not isinstance(extra, dict):
        errors.append(f"docker_daemon_extra must be a dict of daemon.json keys, got {_kind(extra)}")
        extra = {}
    swarm_groups = sorted(set(groups) & set(SWARM_GROUPS))
    if swarm_groups and (live_restore is True or extra.get("live-restore") is True):
        errors.append(
            "docker_daemon_live_restore must be false for hosts in the inventory groups "
            f"{', '.join(swarm_groups)}: the engine refuses live-restore in swarm mode"
        )
    owned = sorted(k for k in extra if k in MANAGED_KEYS)
    for key in owned:
        errors.append(f"docker_daemon_extra must not set {key!r}: use {MANAGED_KEYS[key]} instead")

    if settings.get("tcp_api_enabled") is True:
        missing = [
            f"docker_tls_{part}"
            for part in ("ca_cert", "cert", "key")
            if not _is_str(settings.get(f"tls_{part}")) or not settings.get(f"tls_{part}")
        ]
        if missing:
            errors.append(
                "docker_tcp_api_enabled is true but the TLS material is missing: set "
                f"{', '.join(missing)} (controller-side paths to PEM files); the role never opens "
                "the remote API without TLS client verification"
            )
        port = settings.get("tcp_api_port")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            errors.append(f"docker_tcp_api_port must be a port 1-65535, got {port!r}")
        address = settings.get("tcp_api_address")
        if not _is_str(address) or not _host_ok(address):
            errors.append(
                f"docker_tcp_api_address must be an IP address or host name to listen on, got {address!r}"
            )
    return errors


def build_daemon_config(settings: dict) -> dict:
    """The daemon.json content. Unset (empty) settings are left out so the engine's defaults apply."""
    config = {"log-driver": settings["daemon_log_driver"]}
    if settings.get("daemon_log_opts"):
        config["log-opts"] = dict(settings["daemon_log_opts"])
    if settings.get("daemon_registry_mirrors"):
        config["registry-mirrors"] = list(settings["daemon_registry_mirrors"])
    if settings.get("daemon_insecure_registries"):
        config["insecure-registries"] = list(settings["daemon_insecure_registries"])
    if settings.get("daemon_data_root"):
        config["data-root"] = settings["daemon_data_root"]
    if settings.get("daemon_default_address_pools"):
        config["default-address-pools"] = [
            {"base": p["base"], "size": p["size"]} for p in settings["daemon_default_address_pools"]
        ]
    if settings.get("daemon_metrics_address"):
        config["metrics-addr"] = settings["daemon_metrics_address"]
    if settings.get("daemon_live_restore"):
        config["live-restore"] = True
    if settings.get("tcp_api_enabled"):
        address = settings["tcp_api_address"]
        if ":" in address:
            address = f"[{address}]"
        # fd:// keeps systemd socket activation; the role's drop-in removes the unit's own -H.
        config["hosts"] = ["fd://", f"tcp://{address}:{settings['tcp_api_port']}"]
        config.update(
            {
                "tls": True,
                "tlsverify": True,
                "tlscacert": f"{TLS_DIR}/ca.pem",
                "tlscert": f"{TLS_DIR}/cert.pem",
                "tlskey": f"{TLS_DIR}/key.pem",
            }
        )
    config.update(settings.get("daemon_extra") or {})
    return config
