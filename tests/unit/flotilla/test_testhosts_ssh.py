"""testhosts.ssh, the one way tests and the lab run a command on a test host, without a host."""

from __future__ import annotations

import io
import subprocess
from unittest import mock

import pytest

from flotilla import lab
from flotilla.testhosts import hosts


def host(login: str = "root") -> hosts.Host:
    return hosts.Host(
        name="h1",
        address="172.30.0.5",
        user="root" if login == "root" else "flotilla",
        port=22,
        identity_file="/keys/id_ed25519",
        os="debian12",
        python=True,
        become=login != "root",
    )


def answered(stdout: str = "", returncode: int = 0, stderr: str = ""):
    def run(argv, **kwargs):
        if returncode and kwargs.get("check"):
            raise subprocess.CalledProcessError(returncode, argv, stdout, stderr)
        return subprocess.CompletedProcess(argv, returncode, stdout, stderr)

    return mock.Mock(side_effect=run)


def test_ssh_runs_the_command_as_root_over_real_ssh():
    run = answered("active\n26.1.5\n")
    with mock.patch.object(hosts.subprocess, "run", run):
        assert hosts.ssh(host(), "systemctl is-active docker; docker version") == "active\n26.1.5"
    argv = run.call_args.args[0]
    assert argv[:5] == ["ssh", "-i", "/keys/id_ed25519", "-p", "22"]
    assert "StrictHostKeyChecking=no" in argv and "UserKnownHostsFile=/dev/null" in argv
    assert argv[-2:] == ["root@172.30.0.5", "systemctl is-active docker; docker version"]
    assert run.call_args.kwargs["check"] is True and run.call_args.kwargs["timeout"] == 60


def test_ssh_goes_through_sudo_for_a_sudo_login():
    run = answered()
    with mock.patch.object(hosts.subprocess, "run", run):
        hosts.ssh(host("sudo"), "docker info; iptables -S | wc -l")
    assert run.call_args.args[0][-2:] == [
        "flotilla@172.30.0.5",
        "sudo sh -c 'docker info; iptables -S | wc -l'",
    ]


def test_ssh_feeds_stdin_and_raises_on_failure():
    archive = io.BytesIO(b"image")
    run = answered(returncode=1, stderr="no space left")
    with (
        mock.patch.object(hosts.subprocess, "run", run),
        pytest.raises(subprocess.CalledProcessError) as failed,
    ):
        hosts.ssh(host(), "docker load", stdin=archive, timeout=180)
    assert failed.value.stderr == "no space left"
    assert run.call_args.kwargs["stdin"] is archive and run.call_args.kwargs["timeout"] == 180


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        (answered("ID  HOSTNAME\nx1  m1\n"), "ID  HOSTNAME\nx1  m1\n"),
        (answered(returncode=1, stderr="This node is not a swarm manager.\n"), "not a swarm manager.\n"),
    ],
    ids=["table", "error"],
)
def test_lab_node_table_shows_the_table_or_why_not(answer, shown):
    out = io.StringIO()
    with mock.patch.object(hosts.subprocess, "run", answer):
        lab.print_node_table(host("sudo"), out)
    assert out.getvalue().startswith("\nnodes, as h1 sees them:\n")
    assert out.getvalue().endswith(shown)
    assert answer.call_args.args[0][-1] == "sudo sh -c 'docker node ls'"
