"""The flotilla command: the local lab, and the test hosts Molecule uses.

Every job the CLI does for a cluster is a playbook that plain `ansible-playbook` runs too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from flotilla import __version__
from flotilla.engine import EngineUnavailable


def _host_spec(text: str) -> dict:
    """NAME=OS[,nopython][,sudo][,group=G] -> a test-host spec."""
    name, _, rest = text.partition("=")
    parts = rest.split(",") if rest else []
    if not name or not parts:
        raise argparse.ArgumentTypeError(f"--host takes NAME=OS[,nopython][,sudo]; got {text!r}")
    spec: dict = {"name": name, "os": parts[0], "python": True, "login": "root", "labels": {}}
    for flag in parts[1:]:
        if flag == "nopython":
            spec["python"] = False
        elif flag == "sudo":
            spec["login"] = "sudo"
        elif flag.startswith("group="):
            spec["labels"]["group"] = flag.split("=", 1)[1]
        else:
            raise argparse.ArgumentTypeError(
                f"unknown host flag {flag!r} in {text!r} (nopython, sudo, group=G)"
            )
    return spec


def _testhosts(args: argparse.Namespace) -> int:
    from flotilla.engine import ensure_engine
    from flotilla.testhosts import hosts
    from flotilla.testhosts.aptcache import ensure_apt_cache
    from flotilla.testhosts.images import SUITES, build_all, build_host_image

    def log(line: str) -> None:
        print(f"testhosts: {line}", file=sys.stderr, flush=True)

    if args.action == "traffic":
        from flotilla.testhosts import traffic

        return traffic.command(args)
    client = ensure_engine()
    if args.action == "build":
        tags = build_all(client, args.os or list(SUITES), ensure_apt_cache(), log)
        print(json.dumps(tags, indent=2))
        return 0
    if args.action == "up":
        apt_port = ensure_apt_cache()
        for os_name, python in sorted({(spec["os"], spec["python"]) for spec in args.host}):
            build_host_image(client, os_name, python=python, apt_port=apt_port, log=log)
        found = [
            host.as_dict() for host in hosts.up(client, args.owner, args.host, apt_port=apt_port, log=log)
        ]
        text = json.dumps(found, indent=2)
        if args.output:
            Path(args.output).write_text(text)
        print(text)
        return 0
    if args.action == "down":
        hosts.down(client, args.owner, log)
        return 0
    if args.action == "prune":
        for owner in sorted(hosts.owners(client) - set(args.keep or [])):
            log(f"removing stale test hosts of {owner}")
            hosts.down(client, owner, log)
        return 0
    return 2


def _lab(args: argparse.Namespace) -> int:
    from flotilla import lab

    if args.action == "up":
        return lab.up(
            count=args.hosts,
            managers=args.managers,
            os_name=args.os,
            python=not args.no_python,
            login=args.login,
            provision=not args.no_provision,
        )
    if args.action == "status":
        return lab.status()
    return lab.down()


def _test(args: argparse.Namespace) -> int:
    """Lint, unit and integration tests, all through pytest so its summary line counts everything."""
    import subprocess

    from flotilla.runner import project_root

    root = project_root()
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    pytest_args = list(args.pytest_args)
    if not any(arg == "-n" or arg.startswith("--numprocesses") for arg in pytest_args):
        # Integration tests mostly wait on package installs and engines; two workers, each
        # keeping a test module's hosts to itself (loadscope), roughly halve the wall time.
        pytest_args = ["-n", "2", "--dist", "loadscope", *pytest_args]
    # every scenario's and integration test's time, printed above the summary line
    pytest_args = ["--durations=30", "--durations-min=5", *pytest_args]
    command = [sys.executable, "-m", "pytest", *pytest_args]
    code = subprocess.run(command, cwd=root, env=env, check=False).returncode
    if code == 5:
        print("flotilla test: pytest collected no tests; that is a failure, not a pass", file=sys.stderr)
        return 1
    return code


def _status(args: argparse.Namespace) -> int:
    from flotilla.status import status

    return status(Path(args.inventory), as_json=args.json)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="flotilla", description=__doc__)
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = top.add_subparsers(dest="command", required=True)

    lab = commands.add_parser("lab", help="a local cluster of test hosts, provisioned by the playbooks")
    lab_actions = lab.add_subparsers(dest="action", required=True)
    lab_up = lab_actions.add_parser("up", help="start hosts, write inventories/lab/hosts.yml, run site.yml")
    lab_up.add_argument("--hosts", type=int, default=3, help="how many hosts (default 3)")
    lab_up.add_argument(
        "--managers", type=int, default=1, help="how many of them are Swarm managers (default 1)"
    )
    lab_up.add_argument("--os", default="debian12", choices=["debian12", "debian13"])
    lab_up.add_argument(
        "--login",
        default="sudo",
        choices=["root", "sudo"],
        help="SSH as the user flotilla with sudo while root login is refused (default), or as root",
    )
    lab_up.add_argument("--no-python", action="store_true", help="hosts without python3 (bootstrap path)")
    lab_up.add_argument("--no-provision", action="store_true", help="start hosts only")
    lab_actions.add_parser("status", help="list the lab's hosts")
    lab_actions.add_parser("down", help="remove the lab's hosts, network, volumes and key (safe twice)")

    status = commands.add_parser(
        "status",
        help="nodes, quorum and services of a swarm (playbooks/status.yml; changes nothing)",
        description="Exit code: 0 healthy, 2 read but with problems, 1 the status could not be read.",
    )
    status.add_argument("-i", "--inventory", required=True, help="the inventory of the cluster")
    status.add_argument("--json", action="store_true", help="print the status as JSON")

    test = commands.add_parser(
        "test", help="run the project's tests: lint, unit, Molecule scenarios (pytest)"
    )
    test.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed to pytest, e.g. -k docker")

    th = commands.add_parser(
        "testhosts", help="test-only: host images and host containers (used by Molecule)"
    )
    th_actions = th.add_subparsers(dest="action", required=True)
    build = th_actions.add_parser("build", help="build host images (cached) and the busybox service image")
    build.add_argument("--os", action="append", choices=["debian12", "debian13"])
    th_up = th_actions.add_parser("up", help="start hosts and print how to reach them as JSON")
    th_up.add_argument("--owner", required=True)
    th_up.add_argument(
        "--host", action="append", type=_host_spec, required=True, help="NAME=OS[,nopython][,sudo]"
    )
    th_up.add_argument("--output", help="also write the JSON here")
    th_down = th_actions.add_parser("down", help="remove one owner's hosts, network and volumes")
    th_down.add_argument("--owner", required=True)
    prune = th_actions.add_parser(
        "prune", help="remove every owner's test hosts (stale ones from earlier runs)"
    )
    prune.add_argument("--keep", action="append", help="an owner to leave alone")
    from flotilla.testhosts import traffic

    traffic.add_parser(th_actions)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "lab":
            return _lab(args)
        if args.command == "test":
            return _test(args)
        if args.command == "status":
            return _status(args)
        return _testhosts(args)
    except (EngineUnavailable, ValueError, RuntimeError) as error:
        print(f"flotilla: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
