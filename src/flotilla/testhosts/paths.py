"""Where test-host state lives on the machine: images' build scratch, keys, the package cache."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """FLOTILLA_CACHE, else the XDG cache folder; created on first use."""
    base = os.environ.get("FLOTILLA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "flotilla"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_dir(owner: str) -> Path:
    """Private folder (0700) for one owner's generated SSH key and host list."""
    path = cache_dir() / "hosts" / owner
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path
