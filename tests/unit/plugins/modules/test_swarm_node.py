# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""swarm_node through main(), against a mocked APIClient and a fake clock."""

from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.modules import swarm_node
from engine_fakes import FakeClock, FakeEngine, node, run_module, service_spec, task


@pytest.fixture
def clock():
    return FakeClock()


def cluster(clock, m3_reachable=True):
    nodes = [
        node("id-m1", "m1", role="manager", leader=True),
        node("id-m2", "m2", role="manager"),
        node(
            "id-m3", "m3", role="manager", reachable=m3_reachable, state="ready" if m3_reachable else "down"
        ),
        node("id-w1", "w1", labels={"zone": "a", "disk": "ssd"}),
        node("id-w2", "w2"),
    ]
    return FakeEngine(clock, nodes=nodes)


def web_on_w1_and_w2(engine, replicas=2):
    engine.add_service(service_spec(name="web", replicas=replicas), service_id="web-id")
    engine.set_tasks(
        [
            task("t1", service_id="web-id", slot=1, node_id="id-w1"),
            task("t2", service_id="web-id", slot=2, node_id="id-w2"),
        ]
    )


def test_drain_waits_until_tasks_moved_and_replicas_back(clock, capsys):
    engine = cluster(clock)
    web_on_w1_and_w2(engine)
    timeline = {"drained_at": None}

    def move(eng, now):
        # the drained task stops after 2s; its replacement on w2 starts 2s later
        start = timeline["drained_at"]
        t1 = dict(task("t1", service_id="web-id", slot=1, node_id="id-w1", desired="shutdown"))
        if now - start >= 2:
            t1["Status"]["State"] = "shutdown"
        replacement = task(
            "t3",
            service_id="web-id",
            slot=1,
            node_id="id-w2",
            state="running" if now - start >= 4 else "pending",
        )
        eng.tasks = [t1, task("t2", service_id="web-id", slot=2, node_id="id-w2"), replacement]

    original_update = engine.api.update_node.side_effect

    def update_node(node_id, version, node_spec=None):
        timeline["drained_at"] = clock.now()
        engine.on_poll = move
        return original_update(node_id, version, node_spec)

    engine.api.update_node.side_effect = update_node

    result, failed = run_module(
        swarm_node, {"node": "w1", "state": "drain"}, engine, clock, diff=True, capsys=capsys
    )

    assert not failed, result["msg"]
    ((node_id, version, spec),) = engine.node_updates
    assert node_id == "id-w1" and version == 10
    # the whole spec is written back: labels and role survive
    assert spec == {"Role": "worker", "Availability": "drain", "Labels": {"zone": "a", "disk": "ssd"}}
    assert result["changed"] is True
    assert result["drain"]["complete"] is True
    assert result["drain"]["tasks_moved"] == 1
    assert result["drain"]["seconds"] >= 4
    assert result["drain"]["services"] == ["web"]
    assert result["diff"] == {"before": {"availability": "active"}, "after": {"availability": "drain"}}
    assert result["quorum"]["managers"] == 3 and result["quorum"]["has_quorum"] is True


def test_drain_times_out_when_replacements_cannot_start(clock, capsys):
    engine = cluster(clock)
    web_on_w1_and_w2(engine)

    def stuck(eng, now):
        eng.tasks = [
            task("t1", service_id="web-id", slot=1, node_id="id-w1", desired="shutdown", state="shutdown"),
            task("t2", service_id="web-id", slot=2, node_id="id-w2"),
            task("t3", service_id="web-id", slot=1, node_id="", state="pending", err="no suitable node"),
        ]

    engine.on_poll = stuck
    # inspect_service drives the timeline; the first poll happens after the drain write
    result, failed = run_module(
        swarm_node, {"node": "w1", "state": "drain", "timeout": 15}, engine, clock, capsys=capsys
    )

    assert failed
    assert "drain not complete after" in result["msg"]
    assert "web: 1 of 2 running elsewhere" in result["msg"]
    assert "the node stays drained" in result["msg"]
    assert result["drain"]["complete"] is False
    assert result["drain"]["seconds"] >= 15
    assert len(engine.node_updates) == 1  # drained, not reverted


def test_demote_refused_when_quorum_would_break(clock, capsys):
    engine = cluster(clock, m3_reachable=False)

    result, failed = run_module(swarm_node, {"node": "m2", "role": "worker"}, engine, clock, capsys=capsys)

    assert failed
    assert engine.node_updates == []
    assert "refused to demote m2" in result["msg"]
    assert "bring the unreachable managers back first" in result["msg"]
    assert result["quorum_decision"]["allowed"] is False
    assert result["quorum_decision"]["reachable_after"] == 1
    assert result["quorum_decision"]["majority_needed"] == 2
    assert result["quorum"]["unreachable"] == ["m3"]


def test_demote_refused_in_check_mode_too(clock, capsys):
    engine = cluster(clock, m3_reachable=False)
    result, failed = run_module(
        swarm_node, {"node": "m2", "role": "worker"}, engine, clock, check_mode=True, capsys=capsys
    )
    assert failed and engine.node_updates == []


def test_demote_allowed_keeps_the_rest_of_the_spec(clock, capsys):
    engine = cluster(clock)
    engine.nodes[2]["Spec"]["Labels"] = {"rack": "r3"}

    result, failed = run_module(swarm_node, {"node": "id-m3", "role": "worker"}, engine, clock, capsys=capsys)

    assert not failed, result["msg"]
    ((_, _, spec),) = engine.node_updates
    assert spec == {"Role": "worker", "Availability": "active", "Labels": {"rack": "r3"}}
    assert result["quorum_decision"]["allowed"] is True
    # quorum re-read after the change: two managers left
    assert result["quorum"]["managers"] == 2


def test_demoting_the_local_manager_reports_the_quorum_read_before(clock, capsys):
    engine = cluster(clock)
    original = engine.api.update_node.side_effect

    def update_node(node_id, version, node_spec=None):
        answer = original(node_id, version, node_spec)
        engine.manager = False  # this engine no longer answers manager requests
        return answer

    engine.api.update_node.side_effect = update_node
    result, failed = run_module(swarm_node, {"node": "m1", "role": "worker"}, engine, clock, capsys=capsys)

    assert not failed, result["msg"]
    assert result["quorum"]["managers"] == 3
    assert "read before the role change" in result["quorum"]["note"]


def test_promote_of_a_down_node_is_refused(clock, capsys):
    engine = cluster(clock)
    engine.nodes[4]["Status"]["State"] = "down"
    result, failed = run_module(swarm_node, {"node": "w2", "role": "manager"}, engine, clock, capsys=capsys)
    assert failed
    assert "cannot promote w2: its state is down" in result["msg"]
    assert engine.node_updates == []


def test_check_mode_drain_writes_nothing_and_does_not_wait(clock, capsys):
    engine = cluster(clock)
    web_on_w1_and_w2(engine)
    result, failed = run_module(
        swarm_node, {"node": "w1", "state": "drain"}, engine, clock, check_mode=True, diff=True, capsys=capsys
    )
    assert not failed
    assert result["changed"] is True
    assert engine.node_updates == []
    assert clock.sleeps == []
    assert result["diff"]["after"] == {"availability": "drain"}


def test_activate_is_idempotent(clock, capsys):
    engine = cluster(clock)
    result, failed = run_module(swarm_node, {"node": "w2", "state": "active"}, engine, clock, capsys=capsys)
    assert not failed
    assert result["changed"] is False
    assert engine.node_updates == []
    assert "quorum" in result and result["quorum"]["managers"] == 3


def test_activate_a_drained_node(clock, capsys):
    engine = cluster(clock)
    engine.nodes[3]["Spec"]["Availability"] = "drain"
    result, failed = run_module(swarm_node, {"node": "w1", "state": "active"}, engine, clock, capsys=capsys)
    assert not failed and result["changed"] is True
    assert engine.node_updates[0][2]["Availability"] == "active"
    assert engine.node_updates[0][2]["Labels"] == {"zone": "a", "disk": "ssd"}
    assert result["node"]["availability"] == "active"


def test_unknown_node_lists_the_known_ones(clock, capsys):
    engine = cluster(clock)
    result, failed = run_module(swarm_node, {"node": "w9", "state": "drain"}, engine, clock, capsys=capsys)
    assert failed
    assert "no swarm node is called w9" in result["msg"]
    assert "m1, m2, m3, w1, w2" in result["msg"]


def test_drain_does_not_wait_for_an_accepted_unmovable_service(clock, capsys):
    engine = cluster(clock)
    web_on_w1_and_w2(engine)

    def pinned(eng, now):
        # the task on w1 stops; no other node may run it (its constraint pins it to w1)
        eng.tasks = [
            task("t1", service_id="web-id", slot=1, node_id="id-w1", desired="shutdown", state="shutdown"),
            task("t2", service_id="web-id", slot=2, node_id="id-w2"),
            task("t3", service_id="web-id", slot=1, node_id="", state="pending", err="no suitable node"),
        ]

    engine.on_poll = pinned
    result, failed = run_module(
        swarm_node,
        {"node": "w1", "state": "drain", "timeout": 15, "unmovable_services": ["web"]},
        engine,
        clock,
        capsys=capsys,
    )

    assert not failed, result["msg"]
    assert result["drain"]["complete"] is True
    assert result["drain"]["seconds"] < 15
    # its task on the node still had to stop
    assert result["drain"]["tasks_remaining"] == []


def web_on_m3(engine, moves: bool):
    engine.add_service(service_spec(name="web", replicas=2), service_id="web-id")
    engine.set_tasks(
        [
            task("t1", service_id="web-id", slot=1, node_id="id-m3"),
            task("t2", service_id="web-id", slot=2, node_id="id-w2"),
        ]
    )

    def poll(eng, now):
        if not eng.node_updates:
            return
        tasks = [
            task("t1", service_id="web-id", slot=1, node_id="id-m3", desired="shutdown", state="shutdown"),
            task("t2", service_id="web-id", slot=2, node_id="id-w2"),
        ]
        state = "running" if moves else "pending"
        tasks.append(task("t3", service_id="web-id", slot=1, node_id="id-w1" if moves else "", state=state))
        eng.tasks = tasks

    engine.on_poll = poll


def test_drain_and_demote_demotes_only_after_the_drain(clock, capsys):
    engine = cluster(clock)
    web_on_m3(engine, moves=True)

    result, failed = run_module(
        swarm_node, {"node": "m3", "state": "drain", "role": "worker"}, engine, clock, capsys=capsys
    )

    assert not failed, result["msg"]
    # two writes: the drain keeps the role; the demotion comes after the tasks ran elsewhere
    (first, second) = engine.node_updates
    assert first[2]["Availability"] == "drain" and first[2]["Role"] == "manager"
    assert second[2]["Availability"] == "drain" and second[2]["Role"] == "worker"
    assert result["drain"]["complete"] is True
    assert result["node"]["role"] == "worker"
    assert "drained, then role manager -> worker" in result["msg"]


def test_drain_that_times_out_leaves_the_manager_a_manager(clock, capsys):
    engine = cluster(clock)
    web_on_m3(engine, moves=False)

    result, failed = run_module(
        swarm_node,
        {"node": "m3", "state": "drain", "role": "worker", "timeout": 10},
        engine,
        clock,
        capsys=capsys,
    )

    assert failed
    [(node_id, _version, spec)] = engine.node_updates
    assert node_id == "id-m3" and spec["Role"] == "manager" and spec["Availability"] == "drain"
    assert "drain not complete after" in result["msg"]
    assert "its role was left manager" in result["msg"]
