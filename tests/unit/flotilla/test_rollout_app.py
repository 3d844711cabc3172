"""The rollout test service: its options, its build contexts and the rollout floor the bench prints."""

from __future__ import annotations

import pytest

from flotilla.testhosts import rollout_app


@pytest.mark.parametrize(
    ("replicas", "parallelism", "drain", "expected"),
    [
        # ceil(replicas / parallelism) x (drain + first health check 1 s + delay 1 s) + monitor 5 s
        (3, 1, 3, 3 * (3 + 1 + 1) + 5),
        (3, 2, 3, 2 * (3 + 1 + 1) + 5),
        (3, 0, 3, 1 * (3 + 1 + 1) + 5),  # 0 is all at once
        (3, 1, 0, 3 * (0 + 1 + 1) + 5),
    ],
)
def test_rollout_floor(replicas, parallelism, drain, expected):
    options = rollout_app.service_options("web", "v2", replicas, drain=drain, parallelism=parallelism)
    assert rollout_app.rollout_floor(options) == pytest.approx(expected)


def test_options_fit_a_host_mode_port_behind_a_balancer():
    options = rollout_app.service_options("web", "v1", 3, failure_action="pause")
    assert options["published_ports"] == [{"target_port": 8000, "published_port": 8000, "mode": "host"}]
    assert options["placement"]["max_replicas"] == 1, "a host-mode port fits one task per node"
    assert options["update_config"]["order"] == "stop-first", "start-first cannot bind the same host port"
    assert options["update_config"]["failure_action"] == "pause"
    assert options["endpoint_mode"] == "dnsrr", "no IPVS on the test machine"
    assert options["healthcheck"]["test"].endswith("'200 OK'")


def test_contexts_build_from_the_local_busybox_image_only():
    contexts = rollout_app.contexts()
    assert set(contexts) == {rollout_app.image(v) for v in ("v1", "v2", "broken")}
    for files in contexts.values():
        assert files["Dockerfile"].startswith(b"FROM flotilla/busybox:latest\n")
    assert rollout_app.page("v2").encode() in contexts[rollout_app.image("v2")]["Dockerfile"]
    # the drain: fail the balancer's check first, keep serving, then stop
    serve = contexts[rollout_app.image("v1")]["serve"].decode()
    assert serve.index("rm -f /www/health") < serve.index("sleep") < serve.index('kill "$httpd"')
