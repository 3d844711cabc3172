# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Probes against real sockets on the loopback interface."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.service_probes import (
    probe_http,
    probe_tcp,
    run_probe,
)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_port():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_http_probe_compares_the_status(http_port):
    assert probe_http("127.0.0.1", http_port, "/health")[0] is True
    ok, detail = probe_http("127.0.0.1", http_port, "/other")
    assert ok is False and "returned 503, expected 200" in detail
    assert probe_http("127.0.0.1", http_port, "/other", expect_status=503)[0] is True


def test_tcp_probe(http_port, closed_port):
    assert probe_tcp("127.0.0.1", http_port)[0] is True
    ok, detail = probe_tcp("127.0.0.1", closed_port, timeout=1)
    assert ok is False and f"127.0.0.1:{closed_port}" in detail


def test_http_probe_on_a_closed_port_fails_without_raising(closed_port):
    ok, detail = probe_http("127.0.0.1", closed_port, "/", timeout=1)
    assert ok is False and detail.startswith(f"GET http://127.0.0.1:{closed_port}/")


def test_run_probe_dispatches_and_explains_a_missing_address(http_port):
    assert run_probe({"type": "http", "path": "/health", "expect_status": 200}, "127.0.0.1", http_port)[0]
    assert run_probe({"type": "tcp"}, "127.0.0.1", http_port)[0]
    ok, detail = run_probe({"type": "tcp"}, "", 80)
    assert ok is False and "no address to probe" in detail
    ok, detail = run_probe({"type": "udp"}, "127.0.0.1", 80)
    assert ok is False and "unknown probe type" in detail
