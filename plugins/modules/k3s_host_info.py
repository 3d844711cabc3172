#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Read-only probe behind the k3s preflight and roles: what a host offers k3s, and its k3s state."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k3s_host_info
short_description: Measure what a host offers k3s (cgroups, kernel, overlay, ports) and its k3s state
version_added: 0.1.0
description:
  - Read-only. Reads the cgroup version (the file system type at C(/sys/fs/cgroup)) and the
    available controllers, the kernel release, whether C(overlay) is in C(/proc/filesystems), the
    TCP ports in LISTEN state (C(/proc/net/tcp) and C(tcp6)) and the system host name.
  - Reports whether k3s is installed (the binary's sha256 at O(binary)), whether its service runs,
    and whether its config and token files exist. The binary is hashed, never executed.
  - The decisions over these measurements are the M(flotilla.cluster.k3s_host_errors) filter's.
author:
  - flotilla developers
attributes:
  check_mode:
    support: full
    details: Never changes anything.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  binary:
    description: Where the k3s binary is installed.
    type: path
    default: /usr/local/bin/k3s
  services:
    description: The systemd units whose state is reported.
    type: list
    elements: str
    default: [k3s, k3s-agent]
"""

EXAMPLES = r"""
- name: Measure the host
  flotilla.cluster.k3s_host_info:
    binary: /usr/local/bin/k3s
  register: __k3s_host
"""

RETURN = r"""
cgroup_version:
  description: C(v2) (unified hierarchy), C(v1), or empty when no cgroup file system is mounted.
  returned: always
  type: str
cgroup_controllers:
  description: The controllers available to the kubelet.
  returned: always
  type: list
  elements: str
kernel:
  description: The kernel release.
  returned: always
  type: str
overlay:
  description: Whether the overlay file system is available.
  returned: always
  type: bool
listening_tcp:
  description: Local TCP ports in LISTEN state.
  returned: always
  type: list
  elements: int
hostname:
  description: The system host name (the Kubernetes node name unless set otherwise).
  returned: always
  type: str
binary_sha256:
  description: The sha256 of the installed k3s binary; empty when none is installed.
  returned: always
  type: str
k3s_running:
  description: Whether one of O(services) is active.
  returned: always
  type: bool
services:
  description: Each unit of O(services) and its C(systemctl is-active) answer.
  returned: always
  type: dict
config_present:
  description: Whether /etc/rancher/k3s/config.yaml exists.
  returned: always
  type: bool
msg:
  description: A one-line summary of the measurement.
  returned: always
  type: str
"""

import hashlib
import os
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils.k3s_preflight import (
    cgroup_controllers,
    listening_tcp_ports,
)

ARGUMENT_SPEC = {
    "binary": {"type": "path", "default": "/usr/local/bin/k3s"},
    "services": {"type": "list", "elements": "str", "default": ["k3s", "k3s-agent"]},
}


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def _cgroup_version() -> str:
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "v2"
    if os.path.isdir("/sys/fs/cgroup/memory") or os.path.isdir("/sys/fs/cgroup/cpu"):
        return "v1"
    return ""


def _sha256(path: str) -> str:
    if not os.path.isfile(path):
        return ""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    version = _cgroup_version()
    systemctl = module.get_bin_path("systemctl")
    services = {}
    for unit in module.params["services"]:
        state = "unknown"
        if systemctl:
            _rc, out, _err = module.run_command([systemctl, "is-active", unit])
            state = out.strip() or "unknown"
        services[unit] = state
    module.exit_json(
        changed=False,
        msg=f"cgroup {version or 'none'}, kernel {os.uname().release}",
        cgroup_version=version,
        cgroup_controllers=cgroup_controllers(
            version, _read("/sys/fs/cgroup/cgroup.controllers"), _read("/proc/cgroups")
        ),
        kernel=os.uname().release,
        overlay=any(line.split()[-1:] == ["overlay"] for line in _read("/proc/filesystems").splitlines()),
        listening_tcp=sorted(
            set(listening_tcp_ports(_read("/proc/net/tcp")) + listening_tcp_ports(_read("/proc/net/tcp6")))
        ),
        hostname=socket.gethostname(),
        binary_sha256=_sha256(module.params["binary"]),
        k3s_running=any(state == "active" for state in services.values()),
        services=services,
        config_present=os.path.exists("/etc/rancher/k3s/config.yaml"),
    )


if __name__ == "__main__":
    main()
