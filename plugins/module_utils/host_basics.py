# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""What the prereq role does to a host's basics: its name, clock, kernel modules, sysctls, swap.

Two decisions live here so that tables of cases can drive them without a host:

* which name a host gets: the inventory's (or ``prereq_hostname``), unless it is empty (the
  operator opted out) or an IP address (an inventory that lists addresses says nothing about
  names); a name that is not a valid host name is refused before any host changes;
* which steps belong to the machine: inside a container (as ``systemd-detect-virt --container``
  reports it) the clock, kernel modules, sysctls and swap are the container host's, so the role
  skips them and says why instead of failing on a read-only /proc/sys or a missing CAP_SYS_TIME.

Pure functions, Python 3.9 syntax.
"""

from __future__ import annotations

import ipaddress
import re

MACHINE_STEPS = ("time sync", "kernel modules", "sysctls", "swap")
SWAP_CHOICES = ("keep", "off")

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def hostname_error(name: str) -> str | None:
    """Why `name` cannot be a host name (RFC 1123), or None when it can (or is empty, or an IP)."""
    if not name or is_ip_address(name):
        return None
    if len(name) > 253:
        return f"{name!r} is longer than 253 characters"
    labels = name.rstrip(".").split(".")
    bad = [label for label in labels if not _LABEL.match(label)]
    if bad:
        return (
            f"{name!r} is not a valid host name: each dot-separated part needs 1 to 63 letters, digits or "
            f"hyphens, not starting or ending with a hyphen (bad: {', '.join(repr(b) for b in bad)})"
        )
    if labels[-1].isdigit():
        return f"{name!r} is not a valid host name: its last part is all digits"
    return None


def planned_hostname(name: str) -> str:
    """The name the prereq role gives a host: `name`, or '' when it keeps the host's own (empty or an IP)."""
    return "" if not name or is_ip_address(name) else name


def container_type(detect_output: str) -> str:
    """The container type `systemd-detect-virt --container` printed; 'none' on a machine or VM."""
    words = (detect_output or "").split()
    return words[0] if words else "none"


def host_basics(hostname: str, container: str, swap: str) -> dict:
    """The plan for one host: the name to set (or '' to leave it) and which machine steps run.

    Returns {"hostname", "hostname_use" (systemd or file), "hostname_note",
    "container", "machine_steps" (bool), "skipped" (list of step names), "message" (what the role
    says about its choices)}.
    """
    if swap not in SWAP_CHOICES:
        raise ValueError(f"prereq_swap must be one of {', '.join(SWAP_CHOICES)}; got {swap!r}")
    error = hostname_error(hostname)
    if error:
        raise ValueError(f"prereq_hostname: {error}; set a valid name, or '' to keep the host's own")
    if not hostname:
        target, note = "", "kept (prereq_hostname is empty)"
    elif is_ip_address(hostname):
        target, note = (
            "",
            f"kept ({hostname} is an address, not a name; set prereq_hostname to name the host)",
        )
    else:
        target, note = hostname, f"set to {hostname}"
    in_container = container not in ("", "none")
    skipped = list(MACHINE_STEPS) if in_container else []
    if in_container:
        message = (
            f"{container} container: {', '.join(MACHINE_STEPS)} belong to the machine that runs it; "
            f"skipped here. Host name {note}."
        )
    else:
        message = (
            f"machine or VM: time sync, kernel modules, sysctls and swap ({swap}) applied. Host name {note}."
        )
    return {
        "hostname": target,
        # how to set it: hostnamectl (the hostname module) on machines; in a container the runtime
        # bind-mounts /etc/hostname, hostnamectl's replace-by-rename fails there ("Device or
        # resource busy"), so the file is written in place and the running name set with hostname
        "hostname_use": "file" if in_container else "systemd",
        "hostname_note": note,
        "container": container if in_container else "none",
        "machine_steps": not in_container,
        "skipped": skipped,
        "message": message,
    }
