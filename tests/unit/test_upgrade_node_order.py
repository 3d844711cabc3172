"""The order of one node's turn in the rolling upgrade: quorum is asked again right before the engine
goes down, after the drain and the package and configuration changes that can take minutes.

A manager lost while a node drains (up to flotilla_upgrade_drain_timeout) must stop the run before
this node's engine restarts; a quorum check only before the drain would let the restart break
quorum. Losing a manager at exactly that moment cannot be staged reliably on test hosts, so the
order itself is held here; the fault test exercises the check's verdicts.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
NODE_TASKS = ROOT / "playbooks" / "tasks" / "upgrade_node.yml"


def _steps() -> list[dict]:
    document = yaml.safe_load(NODE_TASKS.read_text())
    blocks = [task for task in document if "block" in task]
    assert len(blocks) == 1, "upgrade_node.yml keeps one node's steps in one block"
    return blocks[0]["block"]


def _index(steps, predicate, what) -> list[int]:
    found = [i for i, step in enumerate(steps) if predicate(step)]
    assert found, f"no step {what} in {NODE_TASKS.name}"
    return found


def _is_quorum_check(step) -> bool:
    return "node" in (step.get("flotilla.cluster.swarm_upgrade_plan") or {})


def _goes_down(step) -> bool:
    restart = (step.get("ansible.builtin.systemd_service") or {}).get("state") == "restarted"
    return restart or "ansible.builtin.reboot" in step


def _read_only_or_guard(step) -> bool:
    # what may stand between the last quorum check and the restart: its unreachable guard and
    # recording a timestamp, neither of which touches the node or the cluster
    return "ansible.builtin.fail" in step or "ansible.builtin.set_fact" in step


def test_quorum_is_checked_again_right_before_the_engine_goes_down():
    steps = _steps()
    checks = _index(steps, _is_quorum_check, "that checks quorum for this node")
    downs = _index(steps, _goes_down, "that restarts the engine or reboots")
    drain = _index(
        steps, lambda s: (s.get("flotilla.cluster.swarm_node") or {}).get("state") == "drain", "drain"
    )
    changes = _index(
        steps,
        lambda s: (s.get("ansible.builtin.include_role") or {}).get("name") == "flotilla.cluster.docker",
        "that applies the docker role",
    )
    last_check, first_down = max(c for c in checks if c < min(downs)), min(downs)
    assert last_check > max(drain + changes), (
        "the last quorum check must come after the drain and the changes"
    )
    between = steps[last_check + 1 : first_down]
    assert all(_read_only_or_guard(step) for step in between), [step.get("name") for step in between]


def test_the_docker_role_holds_its_restart_for_that_check():
    steps = _steps()
    role = next(
        s
        for s in steps
        if (s.get("ansible.builtin.include_role") or {}).get("name") == "flotilla.cluster.docker"
    )
    assert role["vars"]["docker_hold_engine_restart"] is True
