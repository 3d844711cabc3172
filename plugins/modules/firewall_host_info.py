#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Read-only probe behind the firewall role: can this host carry the table, and its address."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: firewall_host_info
short_description: Report whether a host can carry flotilla's nftables table, and the address it advertises
version_added: 0.1.0
description:
  - Whether C(nft) is installed and usable (C(nft list tables) answers), and, when it is not
    installed, whether the running kernel has the nf_tables module at all.
  - Which other firewall managers are active (ufw enabled in C(/etc/ufw/ufw.conf), firewalld
    active in systemd); the firewall role supports hosts without them only, for now.
  - Whether flotilla's table C(inet flotilla) is loaded and its unit file installed.
  - The address the host advertises to the other cluster members, decided as
    M(flotilla.cluster.swarm_host_info) decides it; an undecidable address is reported, not failed.
  - Never changes the host; runs the same in check mode.
author:
  - flotilla developers
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  advertise_addr:
    description:
      - The address set in the inventory (swarm_advertise_addr); empty decides it from
        O(advertise_interface) or the default route.
    type: str
    default: ""
  advertise_interface:
    description: Interface whose IPv4 address is advertised when O(advertise_addr) is empty.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Read what the firewall role needs to know about the host
  flotilla.cluster.firewall_host_info:
    advertise_addr: "{{ swarm_advertise_addr }}"
  register: __firewall_host
"""

RETURN = r"""
nft:
  description: The nft command - installed, usable (C(nft list tables) answered), and why not.
  returned: always
  type: dict
  sample: {present: true, usable: true, path: /usr/sbin/nft, error: ""}
kernel_nf_tables:
  description: Whether the kernel has nf_tables; null when its module lists cannot be read (in a container).
  returned: always
  type: bool
other_firewalls:
  description: Active firewall managers other than flotilla's table (C(ufw), C(firewalld)).
  returned: always
  type: list
  elements: str
  sample: []
table_loaded:
  description: Whether the table C(inet flotilla) is in the kernel's ruleset.
  returned: always
  type: bool
unit_present:
  description: Whether the unit that loads the table at boot is installed.
  returned: always
  type: bool
advertise:
  description: The address this host advertises, where it came from, and why none could be decided.
  returned: always
  type: dict
  sample: {addr: 10.0.0.11, source: default_route, error: ""}
"""

import os
import platform

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils.firewall_rules import (
    TABLE_FAMILY,
    TABLE_NAME,
    UNIT_NAME,
    kernel_nf_tables,
    ufw_enabled,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.host_interfaces import interface_ipv4
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_host import (
    AdvertiseError,
    resolve_advertise_addr,
)

ARGUMENT_SPEC = {
    "advertise_addr": {"type": "str", "default": ""},
    "advertise_interface": {"type": "str", "default": ""},
}
C_LOCALE = {"LANG": "C", "LC_ALL": "C"}


def _read(path: str):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def nft_state(module: AnsibleModule) -> tuple[dict, bool]:
    path = module.get_bin_path("nft")
    if not path:
        return {"present": False, "usable": False, "path": "", "error": "nft is not installed"}, False
    rc, out, err = module.run_command([path, "list", "tables"], environ_update=C_LOCALE)
    if rc != 0:
        return {"present": True, "usable": False, "path": path, "error": (err or out).strip()}, False
    loaded = f"table {TABLE_FAMILY} {TABLE_NAME}" in out.splitlines()
    return {"present": True, "usable": True, "path": path, "error": ""}, loaded


def other_firewalls(module: AnsibleModule) -> list[str]:
    found = []
    if module.get_bin_path("ufw") and ufw_enabled(_read("/etc/ufw/ufw.conf") or ""):
        found.append("ufw")
    systemctl = module.get_bin_path("systemctl")
    if systemctl:
        _rc, out, _err = module.run_command([systemctl, "is-active", "firewalld"], environ_update=C_LOCALE)
        if out.strip() == "active":
            found.append("firewalld")
    return found


def advertise(params: dict) -> dict:
    try:
        address, source = resolve_advertise_addr(
            params["advertise_addr"],
            params["advertise_interface"],
            _read("/proc/net/route") or "",
            interface_ipv4,
        )
    except AdvertiseError as error:
        return {"addr": "", "source": "", "error": str(error)}
    return {"addr": address, "source": source, "error": ""}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    nft, loaded = nft_state(module)
    release = platform.release()
    module.exit_json(
        changed=False,
        nft=nft,
        kernel_nf_tables=kernel_nf_tables(
            os.path.isdir("/sys/module/nf_tables"),
            _read(f"/lib/modules/{release}/modules.dep"),
            _read(f"/lib/modules/{release}/modules.builtin"),
        ),
        other_firewalls=other_firewalls(module),
        table_loaded=loaded,
        unit_present=os.path.exists(f"/etc/systemd/system/{UNIT_NAME}"),
        advertise=advertise(module.params),
    )


if __name__ == "__main__":
    main()
