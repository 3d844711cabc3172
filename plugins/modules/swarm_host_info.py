#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Read-only probe behind the swarm role: Swarm membership, advertise address, Docker SDK."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_host_info
short_description: Report a host's Swarm membership and the address it should advertise
version_added: 0.1.0
description:
  - Reads the running engine's Swarm state with C(docker info) - local node state, node ID, whether
    the node is a manager, its cluster ID (managers only) and the managers it talks to.
  - Decides the advertise address from O(advertise_addr), else O(advertise_interface), else the
    interface of the IPv4 default route, and refuses Docker bridges.
  - Reports whether the Docker SDK for Python, which the community.docker Swarm modules need, is
    importable by the host's Python.
  - Uses the C(docker) command line, not the SDK, so it works before the SDK is installed.
  - In check mode a host without a running engine is reported (RV(engine.present) false, Swarm state
    C(inactive)) instead of failing - the docker role would have installed it - so that check mode
    can say what the swarm role would do on fresh hosts.
author:
  - flotilla developers
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  advertise_addr:
    description: IP address to advertise; empty means decide from O(advertise_interface) or the default route.
    type: str
    default: ""
  advertise_interface:
    description: Interface whose IPv4 address is advertised when O(advertise_addr) is empty.
    type: str
    default: ""
  docker_cli:
    description: The docker command line client.
    type: path
    default: docker
"""

EXAMPLES = r"""
- name: Read the Swarm state and the advertise address
  flotilla.cluster.swarm_host_info:
    advertise_interface: eth1
  register: __swarm_host
"""

RETURN = r"""
swarm:
  description: The engine's view of this node's membership.
  returned: always
  type: dict
  sample:
    state: active
    node_id: x2y8kq0c3hbn1m5d7f9g2j4l6
    node_addr: 10.0.0.11
    is_manager: true
    cluster_id: 9s7dlw2v5m1k0q8r3t6y4u2i0
    manager_ids: [x2y8kq0c3hbn1m5d7f9g2j4l6]
    manager_addrs: ["10.0.0.11:2377"]
    hostname: node1
    server_version: 20.10.24+dfsg1
    error: ""
advertise_addr:
  description: The address this host advertises to the other nodes.
  returned: always
  type: str
  sample: 10.0.0.11
advertise_source:
  description: Where O(advertise_addr) came from, one of C(explicit), C(interface), C(default_route).
  returned: always
  type: str
engine:
  description: Whether an engine answered, and why not (in check mode only; otherwise a missing engine fails).
  returned: always
  type: dict
  sample: {present: true, error: ""}
python_docker:
  description: Whether the Docker SDK for Python is importable, and its version.
  returned: always
  type: dict
  sample: {present: true, version: 5.0.3}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils.host_interfaces import interface_ipv4
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_host import (
    AdvertiseError,
    parse_swarm_info,
    resolve_advertise_addr,
)


def python_docker() -> dict:
    try:
        import docker  # noqa: PLC0415  (probing for the SDK is the point)
    except ImportError:
        return {"present": False, "version": ""}
    return {"present": True, "version": getattr(docker, "__version__", "")}


def main():
    module = AnsibleModule(
        argument_spec={
            "advertise_addr": {"type": "str", "default": ""},
            "advertise_interface": {"type": "str", "default": ""},
            "docker_cli": {"type": "path", "default": "docker"},
        },
        supports_check_mode=True,
    )
    cli = module.get_bin_path(module.params["docker_cli"], required=not module.check_mode)
    if cli:
        rc, out, err = module.run_command(
            [cli, "info", "--format", "{{json .}}"], environ_update={"LANG": "C", "LC_ALL": "C"}
        )
    else:
        rc, out, err = 1, "", f"{module.params['docker_cli']} is not installed"
    engine = {"present": rc == 0, "error": "" if rc == 0 else (err.strip() or out.strip())}
    if rc != 0 and not module.check_mode:
        module.fail_json(
            msg=f"cannot read the engine state (docker info failed: {engine['error']}); "
            "the docker role installs and starts the engine: run it first"
        )
    try:
        # check mode without an engine: the host is in no swarm yet
        swarm = parse_swarm_info(out if rc == 0 else "{}")
    except ValueError as error:
        module.fail_json(msg=f"docker info returned something other than JSON: {error}")

    try:
        with open("/proc/net/route", encoding="ascii") as handle:
            routes = handle.read()
    except OSError:
        routes = ""
    try:
        address, source = resolve_advertise_addr(
            module.params["advertise_addr"], module.params["advertise_interface"], routes, interface_ipv4
        )
    except AdvertiseError as error:
        module.fail_json(msg=str(error), swarm=swarm)

    module.exit_json(
        changed=False,
        swarm=swarm,
        engine=engine,
        advertise_addr=address,
        advertise_source=source,
        python_docker=python_docker(),
    )


if __name__ == "__main__":
    main()
