# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""k3s release strings and the version-skew rules of a k3s upgrade.

A k3s release is ``v<major>.<minor>.<patch>+k3s<revision>`` (``v1.29.5+k3s1``): the Kubernetes
release it carries plus k3s's own build number. A running node reports the same string as its
kubelet version (``status.nodeInfo.kubeletVersion``), which is how an upgrade knows a node is done.

Kubernetes supports upgrading the control plane one minor release at a time, and never
downgrading: both are refused before any node is touched. Pure, Python 3.9 syntax.
"""

from __future__ import annotations

import re

_RELEASE_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:\+k3s(\d+))?$")


def parse_k3s_version(text) -> tuple[int, int, int, int]:
    """``v1.29.5+k3s1`` -> (1, 29, 5, 1). A bare ``v1.29.5`` counts as revision 0.

    Release candidates (``-rc1+k3s1``) and anything else raise ValueError naming the value.
    """
    if not isinstance(text, str):
        raise ValueError(f"a k3s version must be a string such as v1.29.5+k3s1, got {text!r}")
    match = _RELEASE_RE.match(text.strip())
    if not match:
        raise ValueError(
            f"{text!r} is not a k3s release: use the form v1.29.5+k3s1 (release candidates cannot be pinned)"
        )
    major, minor, patch, revision = match.groups()
    return int(major), int(minor), int(patch), int(revision or 0)


def validate_k3s_version(text) -> str:
    """The pin as k3s writes it (``v1.29.5+k3s1``); the ``+k3sN`` part is required for a pin."""
    if isinstance(text, str) and "+k3s" not in text:
        raise ValueError(
            f"k3s_version {text!r} lacks the k3s revision: pin the full release such as v1.29.5+k3s1"
        )
    major, minor, patch, revision = parse_k3s_version(text)
    return f"v{major}.{minor}.{patch}+k3s{revision}"


def minor_of(text: str) -> str:
    major, minor, _patch, _rev = parse_k3s_version(text)
    return f"{major}.{minor}"


def version_reached(kubelet_version, target: str) -> bool:
    """True when a node's kubelet reports exactly the target release (not merely a newer one)."""
    if not kubelet_version or not str(kubelet_version).strip():
        return False
    try:
        return parse_k3s_version(str(kubelet_version)) == parse_k3s_version(target)
    except ValueError:
        return False


def upgrade_step_error(current: str, target: str) -> str | None:
    """Why moving a node from ``current`` to ``target`` is refused, or None when it is allowed.

    Same release: allowed (nothing to do). A newer patch or revision in the same minor, or the
    next minor: allowed. A skipped minor or major change: refused. Anything older: refused.
    """
    cur = parse_k3s_version(current)
    tgt = parse_k3s_version(target)
    if tgt < cur:
        return (
            f"{target} is older than the running {current}: k3s upgrades do not downgrade; "
            "restore an etcd snapshot taken before the upgrade instead (k3s_restore.yml)"
        )
    if tgt[0] != cur[0]:
        return f"{current} -> {target} changes the major release: not supported"
    if tgt[1] > cur[1] + 1:
        skipped = ", ".join(f"{cur[0]}.{m}" for m in range(cur[1] + 1, tgt[1]))
        return (
            f"{current} -> {target} skips minor release(s) {skipped}: Kubernetes upgrades one minor "
            f"at a time; upgrade to the latest {cur[0]}.{cur[1] + 1}.x first"
        )
    return None
