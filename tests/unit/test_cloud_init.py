"""playbooks/cloud_init.yml writes user-data that cloud-init's own schema check accepts.

Runs on the controller only (no hosts). The schema check is Debian's cloud-init package, which
tools/setup-machine installs; the user-data content is checked as YAML too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _generate(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    key = tmp_path / "id_ed25519"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "h3-test", "-f", str(key)], check=True
        )
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "playbooks/cloud_init.yml",
            "-e",
            f"cloud_init_authorized_key_file={key}.pub",
            "-e",
            f"cloud_init_dest={tmp_path / 'user-data.yaml'}",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _schema_check(path: Path) -> subprocess.CompletedProcess:
    if shutil.which("cloud-init") is None:
        pytest.skip(
            "machine limit: cloud-init (Debian package) is not installed; tools/setup-machine installs it"
        )
    return subprocess.run(
        ["cloud-init", "schema", "--config-file", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("extra", "sudo", "locked"),
    [
        ((), "ALL=(ALL) NOPASSWD:ALL", True),
        (
            ("-e", "cloud_init_user=ops", "-e", "cloud_init_password_hash=$6$salt$hash"),
            "ALL=(ALL) ALL",
            False,
        ),
    ],
)
def test_user_data_passes_cloud_inits_schema_check(tmp_path, extra, sudo, locked):
    result = _generate(tmp_path, *extra)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    user_data = tmp_path / "user-data.yaml"
    assert user_data.read_text().startswith("#cloud-config\n")
    assert oct(user_data.stat().st_mode & 0o777) == "0o600"
    config = yaml.safe_load(user_data.read_text())
    (user,) = config["users"]
    public_key = (tmp_path / "id_ed25519.pub").read_text().strip()
    assert user["ssh_authorized_keys"] == [public_key]
    assert user["sudo"] == sudo and user["lock_passwd"] is locked
    assert (
        config["packages"] == ["python3"] and config["disable_root"] is True and config["ssh_pwauth"] is False
    )
    check = _schema_check(user_data)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Valid cloud-config" in check.stdout


def test_schema_check_rejects_what_cloud_init_would_not_apply(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("#cloud-config\nusers: 5\npackages: python3\n")
    check = _schema_check(broken)
    assert check.returncode != 0 and "packages" in check.stdout + check.stderr


def test_refuses_root_and_a_missing_key_before_writing(tmp_path):
    result = _generate(tmp_path, "-e", "cloud_init_user=root")
    assert result.returncode != 0 and "cloud_init_user must be" in result.stdout
    assert not (tmp_path / "user-data.yaml").exists()
    result = _generate(tmp_path, "-e", f"cloud_init_authorized_key_file={tmp_path / 'absent.pub'}")
    assert result.returncode != 0 and "cloud_init_authorized_key_file" in result.stdout
    assert not (tmp_path / "user-data.yaml").exists()
