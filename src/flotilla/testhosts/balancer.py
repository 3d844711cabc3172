"""Test-only: a real load balancer (Debian's haproxy) on a test host, in front of Swarm nodes.

This machine has no IPVS, so a Swarm service's virtual IP and routing mesh do not answer here.
Tests publish the service's port in host mode on every node and put haproxy in front, with
active health checks, the way many production setups front a Swarm anyway.
"""

from __future__ import annotations

import textwrap

import docker

from flotilla.testhosts import hosts

HAPROXY_PORT = 8080
STATS_PORT = 8404


def haproxy_config(backends: list[tuple[str, int]], port: int = HAPROXY_PORT, check_path: str = "/") -> str:
    """haproxy.cfg: round robin over `backends`, each health-checked twice a second.

    A server is taken out after two failed checks and put back after two good ones; a request
    whose connection fails is retried once on another server (`redispatch`), as a production
    balancer would be set up. When every server is down, requests fail, so the harness still
    sees an outage that no single retry can hide.
    """
    servers = "\n".join(
        f"    server node{index} {address}:{backend_port} check inter 500ms fall 2 rise 2"
        for index, (address, backend_port) in enumerate(backends, start=1)
    )
    return textwrap.dedent(
        """\
        global
            maxconn 2000

        defaults
            mode http
            timeout connect 1s
            timeout client 10s
            timeout server 10s
            retries 1
            option redispatch

        frontend service
            bind *:{port}
            default_backend nodes

        backend nodes
            balance roundrobin
            option httpchk GET {check_path}
        {servers}

        listen stats
            bind *:{stats}
            stats enable
            stats uri /
        """
    ).format(port=port, check_path=check_path, servers=servers, stats=STATS_PORT)


def start_balancer(
    client: docker.DockerClient,
    owner: str,
    backends: list[tuple[str, int]],
    apt_port: int | None,
    port: int = HAPROXY_PORT,
    check_path: str = "/",
) -> tuple[str, int]:
    """Start (or reconfigure) `<owner>-lb` on the owner's network; return haproxy's address and port."""
    (host,) = hosts.up(client, owner, [{"name": f"{owner}-lb", "os": "debian12"}], apt_port=apt_port)
    container = client.containers.get(host.name)
    config = haproxy_config(backends, port, check_path)
    script = (
        "command -v haproxy >/dev/null || (apt-get update -qq && "
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null)"
        f" && cat > /etc/haproxy/haproxy.cfg <<'EOF'\n{config}EOF\n"
        " haproxy -c -f /etc/haproxy/haproxy.cfg >/dev/null && systemctl restart haproxy"
    )
    code, output = container.exec_run(["sh", "-c", script])
    if code != 0:
        raise RuntimeError(f"haproxy on {host.name} did not start: {output.decode(errors='replace')[-2000:]}")
    return host.address, port
