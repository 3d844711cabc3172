# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""HTTP and TCP health probes a rollout runs against its tasks before it calls itself done.

Standard library only. A probe returns ``(ok, detail)`` and never raises for a network error:
a refused connection is a failed probe, which the rollout retries until its timeout.
Kept to Python 3.9 syntax because module_utils run on managed nodes.
"""

from __future__ import annotations

import http.client
import socket

PROBE_TYPES = ("http", "tcp")


def _endpoint(host: str, port: int) -> str:
    """host:port for messages, an IPv6 address in brackets so the port cannot be misread."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def probe_tcp(host: str, port: int, timeout: float = 3.0) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, f"tcp {_endpoint(host, port)} accepted a connection"
    except OSError as exc:
        return False, f"tcp {_endpoint(host, port)}: {exc}"


def probe_http(
    host: str, port: int, path: str = "/", expect_status: int = 200, timeout: float = 3.0
) -> tuple[bool, str]:
    url = f"http://{_endpoint(host, port)}{path}"
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "flotilla-swarm-rollout"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return False, f"GET {url}: {exc}"
    finally:
        connection.close()
    if status != expect_status:
        return False, f"GET {url} returned {status}, expected {expect_status}"
    return True, f"GET {url} returned {status}"


def run_probe(probe: dict, host: str, port: int) -> tuple[bool, str]:
    """Run one probe (``{type, path, expect_status, timeout}``) against ``host:port``."""
    if not host:
        return False, "no address to probe: publish the port in host mode or attach a routable network"
    timeout = float(probe.get("timeout") or 3.0)
    if probe.get("type") == "tcp":
        return probe_tcp(host, port, timeout)
    if probe.get("type") == "http":
        expect = int(probe.get("expect_status") or 200)
        return probe_http(host, port, probe.get("path") or "/", expect, timeout)
    return False, f"unknown probe type {probe.get('type')!r}; expected one of {', '.join(PROBE_TYPES)}"
