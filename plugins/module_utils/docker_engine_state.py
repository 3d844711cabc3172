# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""What the docker role must do on one host, decided from what the host reports.

The docker_engine_info module runs the read-only commands (dpkg-query/rpm, apt-cache/dnf,
``docker info``) and hands their output to these pure functions, so one module call per host
answers every question the role asks on a re-run: which packages to install at which exact
version, which to hold, whether the engine is a Swarm member (then changes that restart it wait
for the rolling upgrade), and whether the running engine lags the package on disk.

Version arithmetic comes from versions.py. Kept to Python 3.9 syntax: this runs on managed nodes.
"""

from __future__ import annotations

import json

from ansible_collections.flotilla.cluster.plugins.module_utils.versions import (
    parse_engine_version,
    select_package_version,
    upstream_of,
)

# Docker's LocalNodeState values that mean "this engine belongs to a swarm" (a locked or erroring
# node is still a member whose restart matters to the cluster).
SWARM_MEMBER_STATES = ("active", "pending", "error", "locked")


class PlanError(ValueError):
    """The requested state cannot be reached from what the host offers; the message says why."""


def parse_dpkg_query(output: str) -> dict:
    """``dpkg-query -W -f='${Package}\\t${Version}\\t${Status}\\n'`` -> {name: {version, held}}.

    Only installed packages are returned; a hold on a package that is not installed is ignored.
    """
    packages = {}
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        name, version, status = parts
        words = status.split()
        if len(words) == 3 and words[2] in ("installed", "half-configured", "unpacked") and version:
            packages[name] = {"version": version, "held": words[0] == "hold"}
    return packages


def parse_rpm_query(output: str, locked: str = "") -> dict:
    """``rpm -q --qf '%{NAME}\\t%{EPOCH}:%{VERSION}-%{RELEASE}\\n'`` plus ``dnf versionlock list``."""
    lock_lines = [line.strip() for line in locked.splitlines() if line.strip()]
    packages = {}
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) != 2 or "not installed" in line:
            continue
        name, version = parts
        if version.startswith("(none):"):
            version = version[len("(none):") :]
        held = any(
            entry.startswith(f"{name}-") and entry[len(name) + 1 : len(name) + 2].isdigit()
            for entry in lock_lines
        )
        packages[name] = {"version": version, "held": held}
    return packages


def parse_madison(output: str) -> list:
    """``apt-cache madison pkg`` -> the versions offered, in apt's order."""
    versions = []
    for line in output.splitlines():
        parts = [part.strip() for part in line.split("|")]
        if len(parts) >= 3 and parts[1] and parts[1] not in versions:
            versions.append(parts[1])
    return versions


def parse_apt_policy_candidate(output: str):
    """The ``Candidate:`` version of ``apt-cache policy pkg``; None when apt offers none."""
    for line in output.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Candidate":
            value = value.strip()
            return None if value in ("", "(none)") else value
    return None


def parse_docker_info(rc: int, output: str) -> dict:
    """``docker info --format '{{json .}}'`` -> engine facts; a daemon that does not answer is not running."""
    engine = {"running": False, "server_version": None, "swarm_state": "inactive", "swarm_member": False}
    if rc != 0:
        return engine
    try:
        info = json.loads(output)
    except ValueError:
        return engine
    if not isinstance(info, dict) or not info.get("ServerVersion"):
        return engine
    state = (info.get("Swarm") or {}).get("LocalNodeState") or "inactive"
    engine.update(
        running=True,
        server_version=info["ServerVersion"],
        swarm_state=state,
        swarm_member=state in SWARM_MEMBER_STATES,
        logging_driver=info.get("LoggingDriver"),
        docker_root_dir=info.get("DockerRootDir"),
    )
    return engine


def _same_release(left, right) -> bool:
    try:
        return parse_engine_version(left)[:3] == parse_engine_version(right)[:3]
    except ValueError:
        return False


def _upstream_or_none(version):
    if not version:
        return None
    try:
        return upstream_of(version)
    except ValueError:
        return None


def plan_packages(
    *,
    pinned,
    companions,
    installed,
    version=None,
    candidates=(),
    policy_candidate=None,
    offline_files=None,
):
    """Decide the package work for one host.

    pinned: packages installed at exactly the selected version (the engine, and its CLI where the
    source ships it separately); companions: installed at whatever the source offers and held
    with them (containerd, runc). installed: parse_dpkg_query/parse_rpm_query output.
    version: the operator's upstream pin (X.Y.Z) or None for "whatever the source offers, once".
    offline_files: [{path, name, version}] when installing from a directory of packages.
    """
    main = pinned[0]
    reasons = []
    install_files = []
    target = None

    if offline_files is not None:
        offered = {f["name"]: f for f in offline_files}
        if main not in offered:
            raise PlanError(
                f"the offline package directory holds no {main} package; found: "
                f"{', '.join(sorted(offered)) or 'nothing'}"
            )
        target = offered[main]["version"]
        if version and not _same_release(upstream_of(target), version):
            raise PlanError(
                f"docker_version is {version} but the offline package directory holds {main} "
                f"{target} (release {upstream_of(target)}): supply matching packages or change docker_version"
            )
        for item in offline_files:
            have = installed.get(item["name"], {}).get("version")
            if have is None or (item["name"] in pinned and have != item["version"]):
                install_files.append(item["path"])
                reasons.append(f"{item['name']} {have or 'absent'} -> {item['version']}")
        missing = [
            name for name in list(pinned) + list(companions) if name not in installed and name not in offered
        ]
        if missing:
            raise PlanError(
                f"the offline package directory lacks {', '.join(missing)}, which are not installed either"
            )
    else:
        if version:
            target = select_package_version(version, candidates)
            if target is None:
                offered = sorted({u for u in (_upstream_or_none(c) for c in candidates) if u})
                raise PlanError(
                    f"docker_version {version} is not offered for {main} by this host's package "
                    f"sources; they offer: {', '.join(offered) or 'no version at all'}. Pick one of "
                    "those, or point the role at a source that carries it"
                )
        for name in pinned:
            have = installed.get(name, {}).get("version")
            if have is None:
                reasons.append(f"{name} absent -> {target or 'source default'}")
            elif target and have != target:
                reasons.append(f"{name} {have} -> {target}")
        for name in companions:
            if name not in installed:
                reasons.append(f"{name} absent")

    installed_main = installed.get(main, {}).get("version")
    expected = target or installed_main or policy_candidate
    return {
        "install_needed": bool(reasons),
        "install_reasons": reasons,
        "install_files": install_files,
        "target_package_version": target,
        "installed_package_version": installed_main,
        "installed_upstream": _upstream_or_none(installed_main),
        # The release this host runs once the role has applied its package changes.
        "target_upstream": _upstream_or_none(expected),
        "unheld": [
            name for name in list(pinned) + list(companions) if not installed.get(name, {}).get("held")
        ],
    }


def engine_lags_package(engine: dict, installed_upstream) -> bool:
    """True when the running engine reports an older/other release than the package on disk.

    Package upgrades do not always restart dockerd: until it restarts, the old engine keeps running.
    """
    if not engine.get("running") or not installed_upstream:
        return False
    return not _same_release(engine["server_version"], installed_upstream)
