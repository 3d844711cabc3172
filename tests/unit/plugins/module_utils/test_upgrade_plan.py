# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.upgrade_plan import (
    UpgradePlanError,
    build_plan,
    check_step,
    host_facts,
    manager_addresses,
    split_address,
)

OLD, NEW = "20.10.24+dfsg1", "26.1.5"


def engine_node(name, role="worker", state="ready", availability="active", reachable=True, leader=False):
    data = {
        "ID": f"id-{name}",
        "Description": {"Hostname": name, "Engine": {"EngineVersion": OLD}},
        "Spec": {"Role": role, "Availability": availability},
        "Status": {"State": state},
    }
    if role == "manager":
        data["ManagerStatus"] = {
            "Reachability": "reachable" if reachable else "unreachable",
            "Leader": leader,
        }
    return data


def swarm(leader="m1", workers=("w1", "w2", "w3"), **overrides):
    nodes = [engine_node(m, "manager", leader=m == leader) for m in ("m1", "m2", "m3")]
    nodes += [engine_node(w) for w in workers]
    return [overrides.get(n["Description"]["Hostname"], n) for n in nodes]


def hosts(versions=None, workers=("w1", "w2", "w3"), **extra):
    versions = versions or {}
    out = []
    for name in ("m1", "m2", "m3", *workers):
        entry = {
            "name": name,
            "role": "manager" if name.startswith("m") else "worker",
            "node_id": f"id-{name}",
            "running_version": versions.get(name, OLD),
        }
        entry.update(extra.get(name, {}))
        out.append(entry)
    return out


def test_managers_first_leader_last_then_workers_in_batches():
    plan = build_plan(hosts(), swarm(leader="m1"), "26.1.5", batch_size="2")
    assert [(b["role"], b["nodes"]) for b in plan["batches"]] == [
        ("manager", ["m2"]),
        ("manager", ["m3"]),
        ("manager", ["m1"]),
        ("worker", ["w1", "w2"]),
        ("worker", ["w3"]),
    ]
    assert plan["managers_pending"] == ["m2", "m3", "m1"]
    assert plan["workers_pending"] == ["w1", "w2", "w3"]
    assert plan["errors"] == []
    assert plan["nodes"]["m1"]["restart_expected"] is True
    assert plan["nodes"]["m1"]["actions"][0] == "quorum check"
    assert plan["nodes"]["w1"]["reasons"] == [f"engine {OLD} -> {NEW}"]


@pytest.mark.parametrize(
    ("batch", "workers", "size"),
    [("1", 3, 1), ("2", 3, 2), ("50%", 4, 2), ("30%", 10, 3), ("1%", 3, 1), ("100%", 3, 3), ("9", 3, 3)],
)
def test_worker_batch_size_resolves_against_all_workers(batch, workers, size):
    names = tuple(f"w{i}" for i in range(1, workers + 1))
    done = {names[0]: NEW}  # a finished worker still counts for the percentage
    plan = build_plan(hosts(done, workers=names), swarm(workers=names), NEW, batch_size=batch)
    assert plan["worker_batch_size"] == size


@pytest.mark.parametrize("batch", ["0", "0%", "101%", "-1", "two", "1.5"])
def test_bad_batch_size_is_refused(batch):
    with pytest.raises(ValueError, match="batch size"):
        build_plan(hosts(), swarm(), NEW, batch_size=batch)


def test_rerun_resumes_skipping_finished_nodes():
    plan = build_plan(hosts({"m2": NEW, "m3": NEW, "w1": NEW}), swarm(leader="m1"), NEW)
    assert plan["pending"] == ["m1", "w2", "w3"]
    assert set(plan["skipped"]) == {"m2", "m3", "w1"}
    assert any(line.startswith("skip m2") for line in plan["lines"])


def test_finished_but_drained_node_is_reactivated_not_rolled():
    nodes = swarm(w1=engine_node("w1", availability="drain"))
    plan = build_plan(hosts({n: NEW for n in ("m1", "m2", "m3", "w1", "w2", "w3")}), nodes, NEW)
    assert plan["pending"] == []
    assert plan["reactivate"] == ["w1"]


def test_inventory_wanting_drain_is_left_drained():
    nodes = swarm(w1=engine_node("w1", availability="drain"))
    versions = {n: NEW for n in ("m1", "m2", "m3", "w1", "w2", "w3")}
    plan = build_plan(hosts(versions, w1={"availability": "drain"}), nodes, NEW)
    assert plan["reactivate"] == []


def test_pending_role_changes_roll_nodes_already_at_the_target():
    versions = {n: NEW for n in ("m1", "m2", "m3", "w1", "w2", "w3")}
    change = "/etc/docker/daemon.json (run with --diff to see the change)"
    plan = build_plan(hosts(versions, w2={"pending_changes": [change]}), swarm(), NEW)
    assert plan["pending"] == ["w2"]
    assert plan["nodes"]["w2"]["reasons"] == [change]
    assert "restart the engine" in plan["nodes"]["w2"]["actions"]


def test_no_target_plans_only_pending_changes():
    plan = build_plan(hosts(m3={"pending_changes": ["x"]}), swarm(), None)
    assert plan["pending"] == ["m3"]


@pytest.mark.parametrize(
    ("extra", "os_packages", "reboot", "pending", "actions"),
    [
        ({"w1": {"os_updates": 4}}, True, False, ["w1"], ["upgrade OS packages"]),
        ({"w1": {"os_updates": 4}}, False, False, [], []),
        ({"w1": {"os_updates": 0}}, True, True, [], []),
        ({"w1": {"os_updates": 0, "reboot_required": True}}, True, True, ["w1"], ["reboot"]),
        ({"w1": {"os_updates": 2}}, True, True, ["w1"], ["upgrade OS packages", "reboot"]),
    ],
)
def test_os_updates_and_reboots(extra, os_packages, reboot, pending, actions):
    versions = {n: NEW for n in ("m1", "m2", "m3", "w1", "w2", "w3")}
    plan = build_plan(hosts(versions, **extra), swarm(), NEW, os_packages=os_packages, reboot=reboot)
    assert plan["pending"] == pending
    for action in actions:
        assert action in plan["nodes"]["w1"]["actions"]


@pytest.mark.parametrize(
    ("versions", "nodes", "error"),
    [
        ({"w1": "27.0.1"}, swarm(), "never downgrade"),
        ({}, swarm(m2=engine_node("m2", "manager", reachable=False)), "not healthy"),
        ({}, swarm(w2=engine_node("w2", state="down")), "w2 is down"),
        ({}, swarm(w3=engine_node("w3", role="manager")), "manager in the swarm but a worker"),
        ({}, swarm(workers=("w1", "w2")), "w3 is not a member"),
        ({"w1": "garbage"}, swarm(), "cannot parse"),
    ],
)
def test_refusals_are_listed_before_anything_changes(versions, nodes, error):
    plan = build_plan(hosts(versions), nodes, NEW)
    assert any(error in e for e in plan["errors"]), plan["errors"]
    assert any(line.startswith("error: ") for line in plan["lines"])


def test_down_node_with_nothing_to_do_is_not_a_refusal():
    versions = {n: NEW for n in ("m1", "m2", "m3", "w1", "w2", "w3")}
    nodes = swarm(w2=engine_node("w2", state="down"))
    assert build_plan(hosts(versions), nodes, NEW)["errors"] == []


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ({"name": "a"}, "needs a name and a role"),
        ({"name": "a", "role": "server"}, "needs a name and a role"),
        ({"name": "a", "role": "worker", "colour": "red"}, "unknown host field"),
        ("a", "must be a mapping"),
    ],
)
def test_host_facts_refuses_bad_entries(item, error):
    with pytest.raises(UpgradePlanError, match=error):
        host_facts(item)


def test_duplicate_hosts_are_refused():
    with pytest.raises(UpgradePlanError, match="listed twice"):
        build_plan(hosts() + hosts()[:1], swarm(), NEW)


def test_plan_lines_show_batches_versions_and_restarts():
    lines = build_plan(hosts(), swarm(leader="m2"), NEW)["lines"]
    assert lines[0].startswith(
        "6 node(s) to roll to Docker 26.1.5 in 6 batch(es), 6 engine restart(s) expected"
    )
    assert "batch 3 (manager): m2" in lines
    assert any("m2 [20.10.24+dfsg1, leader]" in line for line in lines)


@pytest.mark.parametrize(
    ("nodes", "node_id", "allow_single", "allowed", "reason"),
    [
        (swarm(), "id-w1", False, True, "worker"),
        (swarm(), "id-m2", False, True, "may go down"),
        (swarm(m3=engine_node("m3", "manager", reachable=False)), "id-m2", False, False, "needed for quorum"),
        ([engine_node("m1", "manager", leader=True)], "id-m1", False, False, "managers reachable"),
        ([engine_node("m1", "manager", leader=True)], "id-m1", True, True, "only manager"),
        (swarm(leader=None), "id-m2", False, False, "no leader"),
        (swarm(), "id-x", False, False, "not in the swarm"),
    ],
)
def test_check_step(nodes, node_id, allow_single, allowed, reason):
    step = check_step(nodes, node_id, allow_single)
    assert step["allowed"] is allowed
    assert reason in step["reason"]


def with_addresses(nodes):
    """The swarm's nodes with each manager's Raft address, as GET /nodes returns them."""
    for index, node in enumerate(nodes, start=1):
        if "ManagerStatus" in node:
            node["ManagerStatus"]["Addr"] = f"10.0.0.{index}:2377"
    return nodes


def test_manager_addresses_lists_managers_only():
    assert manager_addresses(with_addresses(swarm())) == {
        "id-m1": "10.0.0.1:2377",
        "id-m2": "10.0.0.2:2377",
        "id-m3": "10.0.0.3:2377",
    }


def test_a_manager_without_an_address_is_listed_empty():
    assert manager_addresses(swarm(workers=()))["id-m1"] == ""


@pytest.mark.parametrize(
    ("address", "expected"),
    [("10.0.0.1:2377", ("10.0.0.1", 2377)), ("[fd00::1]:2377", ("fd00::1", 2377))],
)
def test_split_address(address, expected):
    assert split_address(address) == expected


@pytest.mark.parametrize("address", ["10.0.0.1", "10.0.0.1:", ":2377", "[fd00::1]:x"])
def test_split_address_refuses_what_is_not_host_port(address):
    with pytest.raises(ValueError, match="not host:port"):
        split_address(address)


def test_a_manager_the_probe_cannot_reach_counts_as_unreachable_though_raft_says_reachable():
    # m3 was cut off a moment ago: the engine still says reachable, the live probe does not.
    step = check_step(swarm(), "id-m2", unreachable={"id-m3": "no answer on its Raft port: timed out"})
    assert step["allowed"] is False
    assert "would leave 1 of 3 managers reachable, 2 needed" in step["reason"]
    assert "unreachable now: m3 (no answer on its Raft port: timed out)" in step["reason"]
    assert step["unreachable"] == {"m3": "no answer on its Raft port: timed out"}
    assert step["label"] == "m2"


def test_the_next_node_itself_unreachable_is_never_rolled():
    # Quorum would survive (m2 is already counted out), but a node that cannot be reached would
    # be drained and then fail halfway: refuse before touching it, and say which node and why.
    step = check_step(swarm(), "id-m2", unreachable={"id-m2": "no answer on its Raft port: refused"})
    assert step["allowed"] is False
    assert step["reason"].startswith("m2 is unreachable (no answer on its Raft port: refused)")
    assert "re-run" in step["reason"]


@pytest.mark.parametrize(
    ("nodes", "why"),
    [
        (swarm(m2=engine_node("m2", "manager", reachable=False)), "the swarm reports it unreachable"),
        (swarm(w1=engine_node("w1", state="down")), "the swarm reports it down"),
    ],
)
def test_nodes_the_engine_reports_unreachable_or_down_are_not_rolled(nodes, why):
    target = "id-m2" if why.endswith("unreachable") else "id-w1"
    step = check_step(nodes, target)
    assert step["allowed"] is False
    assert why in step["reason"]


def test_probe_failures_on_a_healthy_spare_still_allow_the_step():
    # Five managers, one cut off: taking another down leaves 3 of 5, still a majority.
    nodes = [engine_node(m, "manager", leader=m == "m1") for m in ("m1", "m2", "m3", "m4", "m5")]
    step = check_step(nodes, "id-m2", unreachable={"id-m5": "timed out"})
    assert step["allowed"] is True
    assert "3 of 5 managers stay reachable" in step["reason"]


def test_check_step_accepts_a_hostname():
    assert check_step(swarm(), "m2")["label"] == "m2"
    assert check_step(swarm(), "m2")["allowed"] is True


@pytest.mark.parametrize(
    ("reboot", "reboot_required", "refused", "pending"),
    [
        (True, None, True, []),  # cannot tell: refuse, never guess
        (False, None, False, []),  # no reboot asked: the unknown flag does not matter
        (True, False, False, []),
        (True, True, False, ["w1"]),
    ],
)
def test_a_host_that_cannot_tell_about_reboots_is_refused_when_reboots_are_asked(
    reboot, reboot_required, refused, pending
):
    versions = {n: NEW for n in ("m1", "m2", "m3", "w1", "w2", "w3")}
    extra = {"w1": {"os_updates": 0, "reboot_required": reboot_required}}
    plan = build_plan(hosts(versions, **extra), swarm(), NEW, os_packages=True, reboot=reboot)
    errors = [e for e in plan["errors"] if e.startswith("w1 cannot tell")]
    assert bool(errors) is refused
    if refused:
        assert "install dnf-utils" in errors[0]
    assert plan["pending"] == pending


def test_check_step_returns_the_node_records_version():
    nodes = swarm()
    for index, node in enumerate(nodes, start=40):
        node["Version"] = {"Index": index}
    assert check_step(nodes, "id-w1")["record_version"] == 43
    assert check_step(nodes, "id-m2")["record_version"] == 41
    assert check_step(nodes, "id-w9")["allowed"] is False
