#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Read-only probe behind the docker role: packages, pin, holds, engine and Swarm state in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_engine_info
short_description: Report what the docker role must change on a host, without changing anything
version_added: 0.1.0
description:
  - Reads the installed engine packages and their holds, the versions the package sources offer,
    the running engine (C(docker info)) and its Swarm state, and the members of the docker group.
  - Maps an upstream pin such as C(26.1.5) to the exact package version the host's sources carry,
    and tells whether packages must be installed, which must be held, and whether the running
    engine lags the package on disk.
  - One call answers all of it so that a re-run that changes nothing costs one task round.
author:
  - flotilla developers
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  package_manager:
    description: The host's package manager family.
    type: str
    required: true
    choices: [apt, dnf]
  pinned_packages:
    description:
      - Packages installed at exactly the selected version; the first one is the engine package
        whose offered versions the pin is mapped against.
    type: list
    elements: str
    required: true
  companion_packages:
    description: Packages installed at whatever the source offers and held together with the engine.
    type: list
    elements: str
    default: []
  version:
    description: Upstream release C(X.Y.Z) to pin; empty means whatever the source offers, installed once.
    type: str
    default: ""
  package_dir:
    description:
      - Directory on the host holding the packages of an offline install (C(*.deb) or C(*.rpm)).
        Empty means the packages come from the configured sources.
    type: str
    default: ""
  users:
    description: Users that should be members of O(docker_group); existing users only.
    type: list
    elements: str
    default: []
  docker_group:
    description: Group that grants access to the engine socket.
    type: str
    default: docker
  service:
    description: The engine's systemd unit.
    type: str
    default: docker
  directories:
    description: Directories the role writes into; the missing ones are reported.
    type: list
    elements: path
    default: []
  files:
    description:
      - Files the role manages, each C({path, sha1, mode}) with the SHA-1 of the wanted content
        (rendered on the controller); those whose content, mode or root ownership differ are
        reported, so that a re-run skips writing the files that are already right.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Read the engine state and decide the package work
  flotilla.cluster.docker_engine_info:
    package_manager: apt
    pinned_packages: [docker.io]
    companion_packages: [containerd, runc]
    version: "20.10.24"
  register: __docker_engine
"""

RETURN = r"""
engine:
  description: The running engine as C(docker info) reports it.
  returned: always
  type: dict
  sample: {running: true, server_version: "20.10.24+dfsg1", swarm_state: inactive, swarm_member: false,
           service_enabled: true}
packages:
  description: Installed packages among the requested ones, with their version and hold state.
  returned: always
  type: dict
  sample: {docker.io: {version: "20.10.24+dfsg1-1+deb12u1+b6", held: true}}
plan:
  description: >-
    install_needed, install_reasons, install_files (offline), target_package_version,
    installed_package_version, installed_upstream, target_upstream, unheld.
  returned: always
  type: dict
engine_lags_package:
  description: The running engine reports another release than the installed package (restart pending).
  returned: always
  type: bool
missing_directories:
  description: The requested O(directories) that do not exist yet.
  returned: always
  type: list
  elements: str
files_differ:
  description: Paths among O(files) whose content, mode or ownership differ from the wanted state.
  returned: always
  type: list
  elements: str
users_to_add:
  description: Existing requested users not yet in the docker group.
  returned: always
  type: list
  elements: str
"""

import glob
import grp
import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils.docker_engine_state import (
    PlanError,
    engine_lags_package,
    parse_apt_policy_candidate,
    parse_docker_info,
    parse_dpkg_query,
    parse_madison,
    parse_rpm_query,
    plan_packages,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.versions import (
    compare_package_versions,
    validate_upstream,
)

C_LOCALE = {"LANG": "C", "LC_ALL": "C"}


def _run(module, argv):
    return module.run_command(argv, environ_update=C_LOCALE)


def _installed(module, manager, names):
    if manager == "apt":
        _rc, out, _err = _run(module, ["dpkg-query", "-W", "-f=${Package}\t${Version}\t${Status}\n", *names])
        return parse_dpkg_query(out)
    _rc, out, _err = _run(module, ["rpm", "-q", "--qf", "%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}\n", *names])
    _lrc, locked, _lerr = _run(module, ["dnf", "-q", "versionlock", "list"])
    return parse_rpm_query(out, locked if _lrc == 0 else "")


def _offered(module, manager, name):
    """(all versions the sources offer, the one a plain install would pick)."""
    if manager == "apt":
        _rc, madison, _err = _run(module, ["apt-cache", "madison", name])
        _prc, policy, _perr = _run(module, ["apt-cache", "policy", name])
        return parse_madison(madison), parse_apt_policy_candidate(policy)
    rc, out, _err = _run(
        module,
        ["dnf", "-q", "repoquery", "--showduplicates", "--qf", "%{epoch}:%{version}-%{release}\n", name],
    )
    versions = sorted({v.strip() for v in out.splitlines() if v.strip()} if rc == 0 else set())
    best = None
    for version in versions:
        if best is None or compare_package_versions(version, best) > 0:
            best = version
    return versions, best


def _offline_files(module, manager, directory):
    pattern = "*.deb" if manager == "apt" else "*.rpm"
    files = []
    for path in sorted(glob.glob(os.path.join(directory, pattern))):
        if manager == "apt":
            rc, out, err = _run(module, ["dpkg-deb", "-f", path, "Package", "Version"])
            fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
            name, version = fields.get("Package"), fields.get("Version")
        else:
            rc, out, err = _run(
                module, ["rpm", "-qp", "--qf", "%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}", path]
            )
            name, _, version = out.strip().partition("\t")
            if version.startswith("(none):"):
                version = version[len("(none):") :]
        if rc != 0 or not name or not version:
            module.fail_json(msg=f"cannot read package metadata of {path}: {err.strip() or out.strip()}")
        files.append({"path": path, "name": name, "version": version})
    if not files:
        module.fail_json(
            msg=f"no {pattern} packages in {directory} on the host: check docker_offline_packages_dir"
        )
    return files


def _engine(module, service):
    docker = module.get_bin_path("docker")
    engine = parse_docker_info(1, "")
    if docker is not None:
        rc, out, _err = _run(module, [docker, "info", "--format", "{{json .}}"])
        engine = parse_docker_info(rc, out)
    systemctl = module.get_bin_path("systemctl")
    enabled = False
    if systemctl is not None:
        _rc, out, _err = _run(module, [systemctl, "is-enabled", service])
        enabled = out.strip() == "enabled"
    engine["service_enabled"] = enabled
    return engine


def _users(names, group):
    missing, to_add = [], []
    try:
        members = set(grp.getgrnam(group).gr_mem)
    except KeyError:
        members = set()
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            missing.append(name)
            continue
        if name not in members:
            to_add.append(name)
    return missing, to_add


def _file_differs(module, wanted):
    path = wanted.get("path")
    if not path or not os.path.isfile(path):
        return True
    info = os.stat(path)
    mode = str(wanted.get("mode") or "")
    if mode and (info.st_mode & 0o7777) != int(mode, 8):
        return True
    if info.st_uid != 0 or info.st_gid != 0:
        return True
    return module.sha1(path) != wanted.get("sha1")


def main():
    module = AnsibleModule(
        argument_spec={
            "package_manager": {"type": "str", "required": True, "choices": ["apt", "dnf"]},
            "pinned_packages": {"type": "list", "elements": "str", "required": True},
            "companion_packages": {"type": "list", "elements": "str", "default": []},
            "version": {"type": "str", "default": ""},
            "package_dir": {"type": "str", "default": ""},
            "users": {"type": "list", "elements": "str", "default": []},
            "docker_group": {"type": "str", "default": "docker"},
            "service": {"type": "str", "default": "docker"},
            "directories": {"type": "list", "elements": "path", "default": []},
            "files": {"type": "list", "elements": "dict", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    manager = params["package_manager"]
    pinned, companions = params["pinned_packages"], params["companion_packages"]
    if not pinned:
        module.fail_json(msg="pinned_packages must name at least the engine package")
    version = params["version"].strip() or None
    if version:
        try:
            validate_upstream(version)
        except ValueError as exc:
            module.fail_json(msg=f"docker_version: {exc}")

    installed = _installed(module, manager, list(pinned) + list(companions))
    offline = _offline_files(module, manager, params["package_dir"]) if params["package_dir"] else None
    candidates, policy_candidate = ([], None)
    if offline is None and (version or pinned[0] not in installed):
        candidates, policy_candidate = _offered(module, manager, pinned[0])
    try:
        plan = plan_packages(
            pinned=pinned,
            companions=companions,
            installed=installed,
            version=version,
            candidates=candidates,
            policy_candidate=policy_candidate,
            offline_files=offline,
        )
    except PlanError as exc:
        module.fail_json(msg=str(exc), packages=installed)
    if offline is None and not plan["installed_package_version"] and not plan["target_upstream"]:
        module.fail_json(
            msg=f"no package source on this host offers {pinned[0]}: check docker_install_source and "
            "the repository settings (an apt/dnf cache refresh may be missing)",
            packages=installed,
        )
    missing, to_add = _users(params["users"], params["docker_group"])
    if missing:
        module.fail_json(
            msg=f"docker_users names users that do not exist on this host: {', '.join(missing)}. "
            "The role only adds existing users to the docker group: create them first or drop them"
        )
    engine = _engine(module, params["service"])
    module.exit_json(
        changed=False,
        engine=engine,
        packages=installed,
        plan=plan,
        engine_lags_package=engine_lags_package(engine, plan["installed_upstream"]),
        users_to_add=to_add,
        missing_directories=[d for d in params["directories"] if not os.path.isdir(d)],
        files_differ=[f["path"] for f in params["files"] if _file_differs(module, f)],
    )


if __name__ == "__main__":
    main()
