"""The load harness must count successes and, just as surely, failures (loopback only)."""

from __future__ import annotations

import http.server
import threading

import pytest

from flotilla.testhosts.load import HttpLoad, Sampler


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        status = 200 if self.path == "/" else 503
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_load_counts_successes(server):
    load = HttpLoad("127.0.0.1", server.server_address[1], workers=2, max_requests=50, max_seconds=10)
    load.start()
    load.wait_sent(50, timeout=10)
    report = load.stop()
    assert report.sent == 50
    assert report.ok == 50
    assert report.failed == 0
    assert report.rate > 0


def test_load_sees_http_errors(server):
    load = HttpLoad(
        "127.0.0.1", server.server_address[1], path="/broken", workers=1, max_requests=5, max_seconds=10
    )
    load.start()
    load.wait_sent(5, timeout=10)
    report = load.stop()
    assert report.failed == 5
    assert report.failures[0].error == "HTTP 503"
    assert "5 failed" in report.summary()


def test_load_sees_refused_connections():
    with HttpLoad("127.0.0.1", 9, workers=1, max_requests=3, max_seconds=5, timeout=1) as load:
        load.wait_sent(3, timeout=10)
    assert load.report.failed == 3
    assert "ConnectionRefusedError" in load.report.failures[0].error


def test_sampler_keeps_pace_and_records_probe_errors():
    calls = iter([1, ValueError("down"), 3])

    def probe():
        value = next(calls, 0)
        if isinstance(value, Exception):
            raise value
        return value

    with Sampler(probe, interval=0.05) as sampler:
        threading.Event().wait(0.4)
    values = [value for _, value in sampler.samples]
    assert values[0] == 1
    assert isinstance(values[1], ValueError)
    assert len(values) >= 4
    assert sampler.longest_gap() < 0.5
