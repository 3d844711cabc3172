"""Join tokens and the unlock key never reach Ansible's output, even at -vvv.

Three real test hosts (two managers, one worker; Debian 12 and 13) are provisioned with
playbooks/site.yml at -vvv, so the tokens travel through every path the swarm role has: init,
manager join, worker join. A second run at -vvv rotates both tokens and turns autolock on, so the
unlock key is read and stored too. The real tokens (old and new, read from a manager afterwards)
and the unlock key (read from the controller file, which must be mode 0600) must appear in
neither output.
"""

from __future__ import annotations

import stat
import subprocess
import time
from pathlib import Path

import ansible_runner
import pytest
import yaml

from flotilla.testhosts import hosts as testhosts
from flotilla.testhosts.aptcache import ensure_apt_cache
from flotilla.testhosts.hosts import ssh

ROOT = Path(__file__).resolve().parents[2]
OWNER = "pytest-swarm-secrets"
SPECS = [
    {"name": "secrets-m1", "os": "debian12"},
    {"name": "secrets-m2", "os": "debian13"},
    {"name": "secrets-w1", "os": "debian12"},
]


@pytest.fixture(scope="module")
def secret_hosts(engine, built_images):
    try:
        yield {host.name: host for host in testhosts.up(engine, OWNER, SPECS, apt_port=ensure_apt_cache())}
    finally:
        testhosts.down(engine, OWNER, log=lambda _line: None)


def _inventory(hosts: dict, path: Path) -> Path:
    def entry(host):
        data = {
            "ansible_host": host.address,
            "ansible_port": host.port,
            "ansible_user": host.user,
            "ansible_ssh_private_key_file": host.identity_file,
            "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no",
        }
        if host.become:
            data["ansible_become"] = True
        return data

    inventory = {
        "all": {
            "children": {
                "swarm": {
                    "vars": {"swarm_allow_even_managers": True},
                    "children": {
                        "swarm_managers": {
                            "hosts": {name: entry(hosts[name]) for name in ("secrets-m1", "secrets-m2")}
                        },
                        "swarm_workers": {"hosts": {"secrets-w1": entry(hosts["secrets-w1"])}},
                    },
                }
            }
        }
    }
    path.write_text(yaml.safe_dump(inventory))
    return path


def _converge(inventory: Path, env: dict, *extra: str) -> str:
    started = time.monotonic()
    result = subprocess.run(
        ["ansible-playbook", "-vvv", "-i", str(inventory), "playbooks/site.yml", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(f"\n[swarm-secrets] converge {' '.join(extra) or '(first)'}: {time.monotonic() - started:.0f}s")
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"converge failed (rc {result.returncode}):\n{output[-8000:]}"
    return output


def _tokens(manager: testhosts.Host) -> list[str]:
    return [ssh(manager, f"docker swarm join-token -q {kind}") for kind in ("worker", "manager")]


def _converge_with_runner(inventory: Path, env: dict, private: Path, extravars: dict, monkeypatch) -> str:
    """The same playbook through ansible-runner at verbosity 3, keeping its artifacts to search."""
    monkeypatch.setenv("PATH", env["PATH"])
    private.mkdir(mode=0o700)
    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(ROOT),
        playbook=str(ROOT / "playbooks" / "site.yml"),
        inventory=str(inventory),
        extravars=extravars,
        verbosity=3,
        envvars={
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "FLOTILLA_REPORT_DIR": env["FLOTILLA_REPORT_DIR"],
        },
        quiet=True,
    )
    assert runner.rc == 0, f"the ansible-runner converge failed: {runner.status}"
    return "\n".join(
        path.read_text(errors="replace") for path in (private / "artifacts").rglob("*") if path.is_file()
    )


def test_no_token_or_unlock_key_in_verbose_output(secret_hosts, tool_env, tmp_path, monkeypatch):
    inventory = _inventory(secret_hosts, tmp_path / "hosts.yml")
    reports = tmp_path / "reports"
    tool_env = dict(tool_env, FLOTILLA_REPORT_DIR=str(reports))
    key_file = tmp_path / "keys" / "unlock.key"
    key_file.parent.mkdir(mode=0o700)
    manager = secret_hosts["secrets-m1"]

    first = _converge(inventory, tool_env)
    tokens_before = _tokens(manager)
    second = _converge(
        inventory,
        tool_env,
        "-e",
        "swarm_rotate_join_tokens=true swarm_autolock=true",
        "-e",
        f"swarm_unlock_key_dest={key_file}",
    )
    tokens_after = _tokens(manager)
    artifacts = _converge_with_runner(
        inventory,
        tool_env,
        tmp_path / "runner",
        {"swarm_autolock": True, "swarm_unlock_key_dest": str(key_file)},
        monkeypatch,
    )
    report_files = [path for path in reports.rglob("*") if path.is_file()]
    assert report_files, "the run-report callback wrote no report (FLOTILLA_REPORT_DIR)"
    report_text = "\n".join(path.read_text(errors="replace") for path in report_files)

    assert all(token.startswith("SWMTKN-") for token in tokens_before + tokens_after)
    assert set(tokens_before).isdisjoint(tokens_after), "swarm_rotate_join_tokens did not rotate the tokens"
    assert ssh(manager, "docker node ls -q | wc -l") == "3"

    unlock_key = key_file.read_text().strip()
    assert unlock_key.startswith("SWMKEY-"), "the unlock key file holds no unlock key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert unlock_key == ssh(manager, "docker swarm unlock-key -q")

    for name, secret in [
        ("old worker token", tokens_before[0]),
        ("old manager token", tokens_before[1]),
        ("new worker token", tokens_after[0]),
        ("new manager token", tokens_after[1]),
        ("unlock key", unlock_key),
    ]:
        # the random part alone, so a partly censored print would be caught too
        fragment = secret.split("-")[-1]
        assert fragment not in first, f"the {name} appears in the first converge's -vvv output"
        assert fragment not in second, f"the {name} appears in the second converge's -vvv output"
        assert fragment not in artifacts, f"the {name} appears in ansible-runner's artifacts"
        assert fragment not in report_text, f"the {name} appears in a run report"
