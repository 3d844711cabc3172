"""Test-only: a bounded HTTP load that records every failure, and a sampler for other probes.

Rollout and upgrade tests hit a service continuously while nodes change and must count every
failed request. The load is bounded in count and time (it stops by itself) and is meant only for
the project's own test hosts. Figures come back as plain data for tests and benchmarks to print.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise


@dataclass
class Failure:
    at: float
    error: str


@dataclass
class LoadReport:
    sent: int = 0
    ok: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        line = f"{self.sent} requests in {self.seconds:.1f}s ({self.rate:.1f}/s), {self.failed} failed"
        if self.failures:
            first = self.failures[0]
            line += f"; first failure at +{first.at:.1f}s: {first.error}"
        return line


class HttpLoad:
    """Keep `workers` clients sending GET requests to host:port until stopped or a bound is hit."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str = "/",
        workers: int = 4,
        max_seconds: float = 600,
        max_requests: int = 200_000,
        timeout: float = 3.0,
        pause: float = 0.01,
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.workers, self.max_seconds, self.max_requests = workers, max_seconds, max_requests
        self.timeout, self.pause = timeout, pause
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def _one(self) -> str | None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request("GET", self.path, headers={"Connection": "close"})
            answer = connection.getresponse()
            answer.read()
            return None if answer.status == 200 else f"HTTP {answer.status}"
        except (OSError, http.client.HTTPException) as error:
            return f"{type(error).__name__}: {error}"
        finally:
            connection.close()

    def _worker(self) -> None:
        while not self._stop.is_set():
            elapsed = time.monotonic() - self._started
            with self._lock:
                if elapsed > self.max_seconds or self.report.sent >= self.max_requests:
                    return
                self.report.sent += 1
            error = self._one()
            with self._lock:
                if error is None:
                    self.report.ok += 1
                else:
                    self.report.failures.append(Failure(time.monotonic() - self._started, error))
            time.sleep(self.pause)

    def start(self) -> HttpLoad:
        self._started = time.monotonic()
        self._threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def wait_sent(self, count: int, timeout: float) -> None:
        """Block until `count` requests were sent or `timeout` passed (for bounded tests)."""
        deadline = time.monotonic() + timeout
        while self.report.sent < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> LoadReport:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)
        self.report.seconds = time.monotonic() - self._started
        return self.report

    def __enter__(self) -> HttpLoad:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


class Sampler:
    """Call `probe` every `interval` seconds in the background; keep (time, value) samples."""

    def __init__(self, probe: Callable[[], object], interval: float = 1.0, max_seconds: float = 900) -> None:
        self.probe, self.interval, self.max_seconds = probe, interval, max_seconds
        self.samples: list[tuple[float, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = 0.0

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() - self._started < self.max_seconds:
            try:
                value = self.probe()
            except Exception as error:  # noqa: BLE001 - a failed probe is itself a sample
                value = error
            self.samples.append((time.monotonic() - self._started, value))
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 30)

    def longest_gap(self) -> float:
        """Largest time between consecutive samples: proves sampling kept its pace."""
        times = [at for at, _ in self.samples]
        return max((b - a for a, b in pairwise(times)), default=0.0)
