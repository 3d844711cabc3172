"""A package cache for test hosts: Debian's apt-cacher-ng, run with flotilla's own settings.

Every test host installs the same Debian packages (docker.io alone is tens of MB); a cache on
the machine keeps CI inside its time budget. The packaged configuration remaps Debian archives
to a mirror list this machine cannot resolve, so flotilla runs apt-cacher-ng with a minimal
configuration of its own that proxies whatever archive the hosts name.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request

from flotilla.testhosts.paths import cache_dir

PROBE_URL = "http://deb.debian.org/debian/dists/bookworm/Release"
PORTS = (3142, 3143)


def _serves_debian(port: int, timeout: float = 20.0) -> bool:
    proxy = urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{port}"})
    opener = urllib.request.build_opener(proxy)
    request = urllib.request.Request(PROBE_URL, method="HEAD")
    try:
        with opener.open(request, timeout=timeout) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _start(port: int) -> None:
    base = cache_dir() / "apt-cacher-ng"
    conf, store, logs = base / "conf", base / "cache", base / "log"
    for folder in (conf, store, logs):
        folder.mkdir(parents=True, exist_ok=True)
    (conf / "acng.conf").write_text(
        f"CacheDir: {store}\nLogDir: {logs}\nSupportDir: /usr/lib/apt-cacher-ng\n"
        f"Port: {port}\nBindAddress: 0.0.0.0\nExThreshold: 4\n"
    )
    with (logs / "start.log").open("ab") as log:
        subprocess.Popen(
            ["apt-cacher-ng", "-c", str(conf), "ForeGround=1"],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not _listening(port):
        time.sleep(0.3)


def ensure_apt_cache() -> int | None:
    """Return the port of a working package cache on this machine, starting one if possible.

    None means no cache: test hosts then download from the archive directly (slower, not wrong).
    """
    for port in PORTS:
        if _listening(port):
            if _serves_debian(port):
                return port
            continue
        if shutil.which("apt-cacher-ng") is None:
            return None
        _start(port)
        if _serves_debian(port):
            return port
    return None
