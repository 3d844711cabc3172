"""Test-only: a versioned web service for rollout tests and benchmarks, built from the busybox image.

Each version serves `/` (a page naming the version), `/health`, and `/cgi-bin/slow` (the same page
after SLOW_SECONDS, so some requests are always in flight) with `busybox httpd` on port 8000. The
entrypoint drains before it stops, which is what lets a stop-first rollout behind a
health-checking balancer lose no request:

1. on SIGTERM it deletes /www/health, so the balancer's check (GET /health every 500 ms, down
   after 2 failures) takes the node out within about a second;
2. it keeps serving for DRAIN_SECONDS meanwhile, so requests already routed there complete;
3. then it stops httpd and exits, well inside the engine's stop grace period (10 s by default).

Without step 2 (DRAIN_SECONDS=0) httpd dies at once. haproxy retries a refused connection on
another server, but it cannot retry a request a killed task had already accepted (502), and
while the node updated just before is not yet back in rotation (two good checks after its new
task turns healthy) the balancer can find no server at all (503). Measured with
bench/rollout.py --drain 0 on the loaded 2-core machine: 16 of 6,219 quick and 1 of 233 slow
requests failed, within 0.3 s; with the 3 s drain, 0 in every run. The `broken` version exits
at start, as a bad release would.
"""

from __future__ import annotations

import math

PORT = 8000
REPOSITORY = "flotilla/rollout-web"
DRAIN_SECONDS = 3
# Docker HEALTHCHECK: a task of the new version counts as started only once it answers /health.
HEALTH_INTERVAL = 1

ENTRYPOINT = f"""\
#!/bin/sh
# Serve /www; on SIGTERM fail the balancer's health check first, keep serving, then stop.
busybox httpd -f -p {PORT} -h /www &
httpd=$!
drain() {{
    rm -f /www/health
    sleep "${{DRAIN_SECONDS:-{DRAIN_SECONDS}}}"
    kill "$httpd"
    exit 0
}}
trap drain TERM INT
wait "$httpd"
"""

# A slow page: each request stays in flight for SLOW_SECONDS, so a task killed while serving it
# breaks a request the balancer has already handed over (and cannot retry elsewhere).
SLOW_PATH = "/cgi-bin/slow"
SLOW_SECONDS = 0.5
SLOW_PAGE = f"""\
#!/bin/sh
sleep {SLOW_SECONDS}
printf 'Content-Type: text/plain\\r\\n\\r\\n'
cat /www/index.html
"""

_DOCKERFILE = """\
FROM flotilla/busybox:latest
COPY serve /serve
COPY slow /www/cgi-bin/slow
RUN echo '{page}' > /www/index.html && echo ok > /www/health
LABEL org.flotilla.testhosts=image
CMD ["/serve"]
"""

_BROKEN_DOCKERFILE = """\
FROM flotilla/busybox:latest
LABEL org.flotilla.testhosts=image
CMD ["sh", "-c", "echo 'flotilla-web broken: refuses to start' >&2; exit 3"]
"""


def page(version: str) -> str:
    return f"flotilla-web {version}"


def image(version: str) -> str:
    return f"{REPOSITORY}:{version}"


def contexts(versions: tuple[str, ...] = ("v1", "v2")) -> dict[str, dict[str, bytes]]:
    """Build contexts for swarm_fixture.build_images: each version, plus `broken`."""
    built = {
        image(version): {
            "Dockerfile": _DOCKERFILE.format(page=page(version)).encode(),
            "serve": ENTRYPOINT.encode(),
            "slow": SLOW_PAGE.encode(),
        }
        for version in versions
    }
    built[image("broken")] = {"Dockerfile": _BROKEN_DOCKERFILE.encode()}
    return built


HEALTHCHECK = {
    # busybox wget crashes in these containers; nc speaks HTTP/1.0 well enough
    "test": f"printf 'GET /health HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 {PORT} | grep -q '200 OK'",
    "interval": f"{HEALTH_INTERVAL}s",
    "timeout": "2s",
    "retries": 2,
    "start_period": "5s",
}


def service_options(
    name: str, version: str, replicas: int, drain: float = DRAIN_SECONDS, **update: object
) -> dict:
    """swarm_rollout options: one task per node, published in host mode for the balancer.

    `drain` is how long a stopping task keeps serving after failing its health check (0 shows
    what a rollout costs without the drain). `update` overrides update_config fields
    (parallelism, delay, monitor, failure_action...).
    """
    update_config = {
        "parallelism": 1,
        "delay": "1s",
        "order": "stop-first",
        "monitor": "5s",
        "failure_action": "rollback",
    }
    update_config.update(update)
    return {
        "name": name,
        "image": image(version),
        "image_resolution": "local",
        "env": {"DRAIN_SECONDS": f"{drain:g}"},
        "mode": "replicated",
        "replicas": replicas,
        # no IPVS on this machine: no virtual IP, no routing mesh (see docs/test-machines.md)
        "endpoint_mode": "dnsrr",
        "published_ports": [{"target_port": PORT, "published_port": PORT, "mode": "host"}],
        "placement": {"max_replicas": 1, "constraints": []},
        "healthcheck": dict(HEALTHCHECK),
        "update_config": update_config,
        "rollback_config": {
            "parallelism": 1,
            "order": "stop-first",
            "monitor": "3s",
            "failure_action": "pause",
        },
        "timeout": 180,
        "rollback_timeout": 120,
    }


def _seconds(value: object) -> float:
    text = str(value)
    return float(text[:-1]) if text.endswith("s") else float(text)


def rollout_floor(options: dict) -> float:
    """The least time a rollout of `options` can take.

    ceil(replicas / parallelism) batches, each the old task's drain (its stop), the new task's
    first healthy check (its start) and the update delay, then the monitor window on the last one.
    """
    update = options["update_config"]
    parallelism = update["parallelism"] or options["replicas"]
    batches = math.ceil(options["replicas"] / parallelism)
    drain = float(options.get("env", {}).get("DRAIN_SECONDS", DRAIN_SECONDS))
    per_batch = drain + HEALTH_INTERVAL + _seconds(update["delay"])
    return batches * per_batch + _seconds(update["monitor"])
