"""Build test-host images offline, from the Debian archive alone (no container registry).

Each image is a systemd host with sshd: `debootstrap --variant=minbase`, a few edits to the root
file system, then `docker import`. Variants:

- `flotilla/testhost:<os>-nopython`: like a minimal cloud image without Python, for the
  bootstrap path;
- `flotilla/testhost:<os>`: the same plus python3 and python3-apt (what Ansible needs);
- `flotilla/busybox:latest`: a ~2 MB service image (Debian's busybox-static in an empty root)
  for containers that test hosts and Swarm tests run.

Every image carries a label with a hash of its recipe; a build whose image exists with the same
hash returns at once, so a second call is free and a recipe change rebuilds.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import docker.errors

from flotilla.testhosts.paths import cache_dir

SUITES = {"debian12": "bookworm", "debian13": "trixie"}
MIRROR = os.environ.get("FLOTILLA_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get("FLOTILLA_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security")
HOST_REPO = "flotilla/testhost"
BUSYBOX_IMAGE = "flotilla/busybox:latest"
RECIPE_LABEL = "org.flotilla.recipe"
TEST_LABEL = "org.flotilla.testhosts"

# What a minimal Debian cloud host has, less Python (the -nopython variant keeps it that way).
BASE_PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "sudo",
    "iproute2",
    "ca-certificates",
    "gnupg",
    "curl",
    "procps",
    "iputils-ping",
    "less",
]
PYTHON_PACKAGES = ["python3", "python3-apt"]
SUDO_USER = "flotilla"

Log = Callable[[str], None]

_HOSTKEY_UNIT = textwrap.dedent(
    """\
    [Unit]
    Description=Generate this test host's own SSH host keys (the image ships none)
    Before=ssh.service
    ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

    [Service]
    Type=oneshot
    ExecStart=/usr/bin/ssh-keygen -A

    [Install]
    WantedBy=multi-user.target
    """
)


def _recipe_hash(*parts: str) -> str:
    digest = hashlib.sha256()
    # what shapes the tree: the edits made to it and the files written into it
    digest.update(inspect.getsource(_customise_rootfs).encode())
    digest.update(inspect.getsource(_sources).encode())
    digest.update(_HOSTKEY_UNIT.encode())
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def _current(client: docker.DockerClient, tag: str, recipe: str) -> bool:
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return (image.labels or {}).get(RECIPE_LABEL) == recipe


def _sources(suite: str) -> str:
    """deb822 sources like a real host's: the release, its updates, and security."""
    return textwrap.dedent(
        f"""\
        Types: deb
        URIs: {MIRROR}
        Suites: {suite} {suite}-updates
        Components: main
        Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

        Types: deb
        URIs: {SECURITY_MIRROR}
        Suites: {suite}-security
        Components: main
        Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
        """
    )


def _customise_rootfs(root: Path, suite: str) -> None:
    """Turn a debootstrapped tree into a host that boots under systemd in a container."""
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    unit = root / "etc/systemd/system/flotilla-ssh-hostkeys.service"
    unit.write_text(_HOSTKEY_UNIT)
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / unit.name
    if not link.is_symlink():
        link.symlink_to(f"/etc/systemd/system/{unit.name}")
    (root / "etc/ssh/sshd_config.d").mkdir(exist_ok=True)
    (root / "etc/ssh/sshd_config.d/flotilla-testhost.conf").write_text(
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n"
    )
    # /proc/sys is read-only in a test host (the engine API refuses systempaths=unconfined), and
    # Docker 26 (Debian 13) then cannot attach tasks to overlay networks ("failed to disable IPv6
    # on container's interface") unless told to skip that sysctl. Real machines need none of this.
    dropins = root / "etc/systemd/system/docker.service.d"
    dropins.mkdir(parents=True, exist_ok=True)
    (dropins / "10-flotilla-testhost.conf").write_text(
        "# test host only: /proc/sys is read-only in this container\n"
        "[Service]\nEnvironment=DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1\n"
    )
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d").mkdir(exist_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(_sources(suite))
    subprocess.run(
        [
            "chroot",
            str(root),
            "useradd",
            "--create-home",
            "--shell",
            "/bin/bash",
            "--groups",
            "sudo",
            SUDO_USER,
        ],
        check=True,
    )
    sudoers = root / "etc/sudoers.d" / SUDO_USER
    sudoers.write_text(f"{SUDO_USER} ALL=(ALL) NOPASSWD:ALL\n")
    sudoers.chmod(0o440)
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True)
    for lists in (root / "var/lib/apt/lists").glob("*_*"):
        lists.unlink()


def _docker_import(client: docker.DockerClient, root: Path, tag: str, labels: dict[str, str]) -> None:
    changes = ['CMD ["/lib/systemd/systemd"]', "ENV container=docker"]
    changes += [f'LABEL {key}="{value}"' for key, value in labels.items()]
    with tempfile.TemporaryFile() as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            tar.add(root, arcname=".")
        archive.seek(0)
        repository, _, image_tag = tag.partition(":")
        client.api.import_image_from_data(
            archive.read(), repository=repository, tag=image_tag, changes=changes
        )


def _apt_proxy_for_builds(client: docker.DockerClient, apt_port: int | None) -> str:
    """The package cache as seen from a build container on the default bridge."""
    if apt_port is None:
        return ""
    config = client.networks.get("bridge").attrs["IPAM"]["Config"]
    gateway = config[0].get("Gateway", "172.17.0.1") if config else "172.17.0.1"
    return f"http://{gateway}:{apt_port}"


def _build(
    client: docker.DockerClient, dockerfile: str, tag: str, labels: dict[str, str], proxy: str
) -> None:
    try:
        client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()),
            tag=tag,
            buildargs={"APT_PROXY": proxy},
            labels=labels,
            pull=False,
            rm=True,
            forcerm=True,
        )
    except docker.errors.BuildError as error:
        tail = "".join(chunk.get("stream", "") for chunk in error.build_log)[-2000:]
        raise RuntimeError(f"building {tag} failed:\n{tail}") from error


_APT_INSTALL = (
    'RUN if [ -n "$APT_PROXY" ]; then echo "Acquire::http::Proxy \\"$APT_PROXY\\";" '
    "> /etc/apt/apt.conf.d/00build-proxy; fi \\\n"
    " && apt-get update -qq"
    " && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {packages}"
    " \\\n && rm -rf /var/lib/apt/lists/*_* /var/cache/apt/archives/*.deb /etc/apt/apt.conf.d/00build-proxy\n"
)


def build_host_image(
    client: docker.DockerClient,
    os_name: str,
    python: bool = True,
    apt_port: int | None = None,
    log: Log = print,
) -> str:
    """Build (or find current) the test-host image for one OS; return its tag."""
    if os_name not in SUITES:
        raise ValueError(f"unknown test-host OS {os_name!r}; choose one of {', '.join(SUITES)}")
    suite = SUITES[os_name]
    base_tag = f"{HOST_REPO}:{os_name}-nopython"
    base_recipe = _recipe_hash(suite, MIRROR, *BASE_PACKAGES)
    if not _current(client, base_tag, base_recipe):
        log(f"building {base_tag} from the Debian archive ({suite}, about a minute)")
        env = dict(os.environ)
        if apt_port:
            env["http_proxy"] = f"http://127.0.0.1:{apt_port}"
        scratch = Path(tempfile.mkdtemp(prefix=f"flotilla-{os_name}-", dir=cache_dir()))
        try:
            root = scratch / "root"
            result = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}",
                    suite,
                    str(root),
                    MIRROR,
                ],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(f"debootstrap {suite} failed:\n{(result.stdout + result.stderr)[-2000:]}")
            _customise_rootfs(root, suite)
            _docker_import(client, root, base_tag, {RECIPE_LABEL: base_recipe, TEST_LABEL: "image"})
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if not python:
        return base_tag
    tag = f"{HOST_REPO}:{os_name}"
    recipe = _recipe_hash(base_recipe, *PYTHON_PACKAGES)
    if not _current(client, tag, recipe):
        log(f"building {tag} (adds {' '.join(PYTHON_PACKAGES)})")
        dockerfile = f"FROM {base_tag}\nARG APT_PROXY=\n" + _APT_INSTALL.format(
            packages=" ".join(PYTHON_PACKAGES)
        )
        _build(
            client,
            dockerfile,
            tag,
            {RECIPE_LABEL: recipe, TEST_LABEL: "image"},
            _apt_proxy_for_builds(client, apt_port),
        )
    return tag


def build_busybox_image(client: docker.DockerClient, apt_port: int | None = None, log: Log = print) -> Path:
    """Build the tiny service image and return the path of its `docker save` archive."""
    base_tag = build_host_image(client, "debian12", python=False, apt_port=apt_port, log=log)
    recipe = _recipe_hash(base_tag, "busybox-static")
    archive = cache_dir() / "images" / f"busybox-{recipe}.tar"
    if archive.exists() and _current(client, BUSYBOX_IMAGE, recipe):
        return archive
    log(f"building {BUSYBOX_IMAGE}")
    dockerfile = (
        f"FROM {base_tag} AS fetch\nARG APT_PROXY=\n"
        + _APT_INSTALL.format(packages="busybox-static")
        + "FROM scratch\nCOPY --from=fetch /bin/busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n'
    )
    _build(
        client,
        dockerfile,
        BUSYBOX_IMAGE,
        {RECIPE_LABEL: recipe, TEST_LABEL: "image"},
        _apt_proxy_for_builds(client, apt_port),
    )
    archive.parent.mkdir(parents=True, exist_ok=True)
    for old in archive.parent.glob("busybox-*.tar"):
        old.unlink()
    partial = archive.with_suffix(".partial")
    with partial.open("wb") as out:
        for chunk in client.images.get(BUSYBOX_IMAGE).save(named=True):
            out.write(chunk)
    partial.rename(archive)
    return archive


def build_all(
    client: docker.DockerClient, os_names: list[str], apt_port: int | None = None, log: Log = print
) -> dict[str, str]:
    """Build every OS's images side by side (debootstrap is mostly waiting on dpkg and the network)."""
    with ThreadPoolExecutor(max_workers=len(os_names) or 1) as pool:
        futures = {
            name: pool.submit(build_host_image, client, name, True, apt_port, log) for name in os_names
        }
        tags = {name: future.result() for name, future in futures.items()}
    tags["busybox"] = str(build_busybox_image(client, apt_port, log))
    return tags
