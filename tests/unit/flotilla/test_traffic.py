"""The traffic harness's judgement: quorum per sample, gaps, figures and the summary line.

These are the numbers the Molecule upgrade scenario asserts on, so they are checked here on
inputs shaped like real engine answers (GET /info and GET /nodes of Docker 20.10/26.1).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flotilla.cli import parser
from flotilla.testhosts import traffic
from flotilla.testhosts.load import Failure, LoadReport
from flotilla.testhosts.traffic import ManagerView, QuorumSample


def _info(state: str = "active", control: bool = True, version: str = "20.10.24+dfsg1") -> dict:
    return {"ServerVersion": version, "Swarm": {"LocalNodeState": state, "ControlAvailable": control}}


def _node(host: str, reachability: str = "reachable", leader: bool = False) -> dict:
    status = {"Reachability": reachability, "Addr": "10.0.0.1:2377"}
    if leader:
        status["Leader"] = True
    return {"Description": {"Hostname": host}, "ManagerStatus": status}


MANAGERS = [_node("m1", leader=True), _node("m2"), _node("m3", "unreachable")]


@pytest.mark.parametrize(("managers", "needed"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)])
def test_majority_of_configured_managers(managers, needed):
    assert traffic.majority(managers) == needed


def test_majority_refuses_a_swarm_without_managers():
    with pytest.raises(ValueError, match="at least one manager"):
        traffic.majority(0)


def test_manager_up_names_leader_and_counts_reachable():
    view = traffic.manager_view("m2", _info(version="26.1.5+dfsg1"), MANAGERS, seconds=0.3)
    listed = ("m1 leader", "m2 reachable", "m3 unreachable")
    expected = ManagerView("m2", True, "26.1.5+dfsg1", 0.3, leader="m1", reachable=2, listed=listed)
    assert view == expected


def test_an_engine_that_answers_only_after_its_restart_was_not_up():
    """docker.socket queues calls while the engine restarts; a late answer is not "up now"."""
    late = traffic.UP_WITHIN + 0.5
    view = traffic.manager_view("m1", _info(), MANAGERS, seconds=late)
    assert not view.up
    assert view.error == f"answered its ping only after {late:.1f}s (restarting, or starved)"
    assert view.leader is None
    assert traffic.manager_view("m1", _info(), MANAGERS, seconds=traffic.UP_WITHIN).up


def test_engine_that_did_not_answer_is_down_with_the_reason():
    view = traffic.manager_view("m1", None, None, "ConnectionRefusedError: [Errno 111]")
    assert not view.up
    assert view.error == "ConnectionRefusedError: [Errno 111]"
    assert view.leader is None


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        (_info("active", control=False), "swarm active, control plane unavailable"),
        (_info("pending", control=False), "swarm pending, control plane unavailable"),
        ({"ServerVersion": "26.1.5", "Swarm": {}}, "swarm inactive, control plane unavailable"),
    ],
)
def test_engine_without_a_running_manager_is_down(info, reason):
    view = traffic.manager_view("m1", info, None, "managers list refused")
    assert not view.up
    assert view.error == reason


def test_manager_up_while_no_leader_is_elected():
    # a manager answers /info during an election but refuses the managers list
    view = traffic.manager_view(
        "m2", _info(), None, "managers list refused: The swarm does not have a leader"
    )
    assert view.up
    assert view.leader is None
    assert view.reachable is None


def test_sample_with_one_of_three_down_keeps_quorum():
    views = [
        traffic.manager_view("m1", _info(), MANAGERS, seconds=0.4),
        traffic.manager_view("m2", _info(), MANAGERS, seconds=0.1),
        traffic.manager_view("m3", None, None, "ReadTimeout", seconds=5.0),
    ]
    sample = traffic.classify(4.0, 5.0, 3, views)
    assert (sample.up, sample.majority, sample.quorum) == (2, 2, True)
    assert sample.leader == "m1" and not sample.leaderless
    assert sample.down == {"m3": "ReadTimeout"}
    assert sample.versions == {"m1": "20.10.24+dfsg1", "m2": "20.10.24+dfsg1"}
    # the slowest answer that counted as up, not the timed-out one
    assert sample.slowest_up == pytest.approx(0.4)


def test_sample_with_two_of_three_down_loses_quorum():
    views = [
        traffic.manager_view("m1", _info(), None, "managers list refused"),
        traffic.manager_view("m2", None, None, "no answer"),
        traffic.manager_view("m3", _info("pending", control=False), None),
    ]
    sample = traffic.classify(9.5, 1.0, 3, views)
    assert (sample.up, sample.quorum, sample.leaderless) == (1, False, True)
    assert set(sample.down) == {"m2", "m3"}


def test_sample_leader_is_the_one_most_managers_name():
    other = [_node("m1"), _node("m2", leader=True), _node("m3")]
    views = [
        traffic.manager_view("m1", _info(), MANAGERS),
        traffic.manager_view("m2", _info(), other),
        traffic.manager_view("m3", _info(), other),
    ]
    sample = traffic.classify(0.0, 0.1, 3, views)
    assert sample.leader == "m2"
    assert sample.reachable == 3


def test_a_down_managers_stale_leader_is_not_counted():
    views = [traffic.manager_view("m1", _info("pending", control=False), MANAGERS)]
    assert traffic.classify(0.0, 0.1, 1, views).leaderless


def test_longest_gap_counts_the_edges():
    assert traffic.longest_gap([0.0, 0.5, 1.0, 1.5], 0.0, 2.0) == pytest.approx(0.5)
    # a sampler that died at 1.0 shows a gap up to the end
    assert traffic.longest_gap([1.0, 0.0, 0.5], 0.0, 4.0) == pytest.approx(3.0)
    # one that began late shows a gap from the start
    assert traffic.longest_gap([2.5, 3.0], 0.0, 3.2) == pytest.approx(2.5)
    assert traffic.longest_gap([], 0.0, 7.0) == pytest.approx(7.0)


def _sample(at: float, up: int, leader: str | None, versions: dict | None = None) -> QuorumSample:
    return QuorumSample(
        at, 0.1 * (at + 1), 3, up, 2, leader, up, {}, versions or {}, slowest_up=0.05 * (at + 1)
    )


def test_quorum_figures_count_samples_leaders_and_versions():
    old, new = "20.10.24+dfsg1", "26.1.5+dfsg1"
    samples = [
        _sample(0.0, 3, "m1", {"m1": old, "m2": old, "m3": old}),
        _sample(0.5, 2, "m1", {"m1": old, "m3": old}),
        _sample(1.0, 1, None, {"m1": old}),
        _sample(1.5, 2, None, {"m1": old, "m2": new}),
        _sample(2.0, 3, "m2", {"m1": new, "m2": new, "m3": old}),
    ]
    figures = traffic.quorum_figures(samples, ["m1", "m2", "m3"], 0.5, 2.4, skipped=1, errors=[])
    assert figures["samples"] == 5
    assert (figures["with_majority"], figures["without_majority"]) == (4, 1)
    assert figures["leaderless"] == 2
    assert figures["min_up"] == 1
    assert figures["longest_gap"] == pytest.approx(0.5)
    assert figures["slowest_probe"] == pytest.approx(0.3)
    assert figures["slowest_up"] == pytest.approx(0.15)
    assert figures["up_within"] == traffic.UP_WITHIN
    assert figures["leaders"] == ["m1", "m2"]
    assert figures["versions"] == {"m1": [old, new], "m2": [old, new], "m3": [old]}
    assert figures["first_without_majority"]["at"] == 1.0
    assert figures["leaderless_at"] == [1.0, 1.5]
    assert figures["skipped"] == 1
    # one election, from the first leaderless sample to the next that names a leader
    assert (figures["leaderless_stretches"], figures["longest_leaderless"]) == (1, pytest.approx(1.0))
    assert figures["leaderless_from"] == [1.0]
    # the engines counted 1 reachable manager of 3 at +1.0s
    assert figures["raft_without_majority"] == 1
    assert figures["first_raft_without_majority"]["at"] == 1.0


@pytest.mark.parametrize(
    ("leaders", "end", "expected"),
    [
        (["m1", "m1"], 1.0, []),
        ([None, "m1"], 1.0, [(0.0, 0.5)]),
        (["m1", None, None, "m2", None, "m3"], 3.0, [(0.5, 1.0), (2.0, 0.5)]),
        (["m1", None], 4.0, [(0.5, 3.5)]),  # still leaderless when sampling ended
    ],
)
def test_leaderless_stretches(leaders, end, expected):
    samples = [_sample(0.5 * index, 3, leader) for index, leader in enumerate(leaders)]
    assert traffic.leaderless_stretches(samples, end) == [
        (pytest.approx(start), pytest.approx(length)) for start, length in expected
    ]


def test_raft_majority_is_the_engines_count_not_the_pings():
    sample = _sample(0.0, 3, "m1")
    assert not sample.raft_majority_lost
    sample.reachable = 1
    assert sample.raft_majority_lost and sample.quorum  # every ping answered, yet Raft lacks a majority
    sample.reachable = None
    assert not sample.raft_majority_lost  # no list (an election): counted as leaderless instead


def test_quorum_figures_without_samples_show_the_whole_run_as_a_gap():
    figures = traffic.quorum_figures([], ["m1", "m2", "m3"], 0.5, 12.0, skipped=0, errors=["+0.0s: boom"])
    assert figures["samples"] == 0
    assert figures["longest_gap"] == pytest.approx(12.0)
    assert figures["probe_errors"] == ["+0.0s: boom"]


def test_load_figures_add_both_pages_and_order_failures():
    quick = LoadReport(
        sent=900, ok=898, seconds=10.0, failures=[Failure(4.0, "HTTP 503"), Failure(6.0, "HTTP 502")]
    )
    slow = LoadReport(sent=100, ok=99, seconds=9.5, failures=[Failure(5.0, "TimeoutError: timed out")])
    figures = traffic.load_figures({"/": quick, "/cgi-bin/slow": slow})
    assert (figures["sent"], figures["ok"], figures["failed"]) == (1000, 997, 3)
    assert figures["rate"] == pytest.approx(100.0)
    assert [failure["error"] for failure in figures["failures"]] == [
        "HTTP 503",
        "TimeoutError: timed out",
        "HTTP 502",
    ]
    assert figures["failures"][1]["path"] == "/cgi-bin/slow"
    assert figures["paths"]["/cgi-bin/slow"] == {
        "sent": 100,
        "failed": 1,
        "rate": pytest.approx(10.5, abs=0.1),
    }


def _report(failures: list[dict], stopped_by: str = "stop") -> dict:
    samples = [_sample(0.0, 3, "m1"), _sample(0.5, 2, None), _sample(1.0, 3, "m2")]
    return {
        "stopped_by": stopped_by,
        "load": {"sent": 1234, "seconds": 10.0, "rate": 123.4, "failed": len(failures), "failures": failures},
        "quorum": traffic.quorum_figures(samples, ["m1", "m2", "m3"], 0.5, 1.4, 0, []),
    }


def test_summary_line_carries_every_figure():
    line = traffic.summary_line(_report([]))
    assert line == (
        "traffic: 1234 requests in 10.0s (123.4/s), 0 failed; quorum: 3 samples in 1.4s, longest gap "
        f"0.50s, slowest ping counted up 0.10s (limit {traffic.UP_WITHIN:g}s); majority (2 of 3 "
        "managers) up in 3, not in 0; 1 leaderless; leaders m1 -> m2; longest leaderless gap 0.5s in "
        "1 stretch(es); Raft majority lost in 0"
    )


def test_summary_line_names_the_first_failure_and_a_run_that_ended_by_itself():
    failures = [{"at": 3.25, "path": "/", "error": "HTTP 503"}]
    line = traffic.summary_line(_report(failures, stopped_by="max-seconds 3600"))
    assert "1 failed (first at +3.2s on /: HTTP 503)" in line
    assert line.endswith("; ended by itself (max-seconds 3600)")


def test_sampler_keeps_its_schedule_while_probes_are_slow():
    """Each probe takes 3 intervals; the schedule still starts one every interval.

    A sampler that waited for each probe would leave 0.6 s gaps and about 4 samples; one slot
    skipped on a starved machine is tolerated (a 0.4 s gap), a sequential sampler is not.
    """

    def slow_probe(at: float) -> QuorumSample:
        time.sleep(0.6)
        return _sample(at, 3, "m1")

    sampler = traffic.QuorumSampler(slow_probe, interval=0.2).start()
    time.sleep(2.1)
    samples = sampler.stop()
    starts = [sample.at for sample in samples]
    assert len(samples) >= 8, starts
    assert traffic.longest_gap(starts, 0.0, sampler.stopped_at) < 0.45, starts


def test_sampler_records_probe_errors_and_skips_slots_when_too_many_are_in_flight(monkeypatch):
    monkeypatch.setattr(traffic, "MAX_PROBES_IN_FLIGHT", 2)
    release = threading.Event()
    calls = []

    def stuck_probe(at: float) -> QuorumSample:
        calls.append(at)
        if len(calls) == 1:
            raise RuntimeError("engine socket gone")
        release.wait(5)
        return _sample(at, 3, "m1")

    sampler = traffic.QuorumSampler(stuck_probe, interval=0.05).start()
    time.sleep(0.5)
    release.set()
    samples = sampler.stop()
    assert sampler.errors and "RuntimeError: engine socket gone" in sampler.errors[0]
    assert sampler.skipped >= 3
    # the skipped slots are a hole in the samples that longest_gap reports
    assert traffic.longest_gap([s.at for s in samples], 0.0, sampler.stopped_at) > 0.3


def test_only_a_traffic_process_of_the_same_state_dir_is_ever_signalled(tmp_path):
    state_dir = tmp_path / "traffic"
    other_dir = tmp_path / "elsewhere"
    lookalike = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "traffic", "run", "--state-dir", str(state_dir)]
    )
    # right after the fork, /proc/<pid>/cmdline can still be empty for a moment
    deadline = time.monotonic() + 5
    while not Path(f"/proc/{lookalike.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert not traffic._ours(lookalike.pid, other_dir)
        assert not traffic._end(lookalike.pid, other_dir, grace=1)
        assert lookalike.poll() is None
        assert traffic._ours(lookalike.pid, state_dir)
        assert traffic._end(lookalike.pid, state_dir, grace=5)
        assert lookalike.wait(timeout=5) == -15
    finally:
        lookalike.kill()
        lookalike.wait()


def test_stop_without_a_started_process(tmp_path, capsys):
    args = argparse.Namespace(state_dir=tmp_path, missing_ok=False)
    with pytest.raises(RuntimeError, match="no traffic was started"):
        traffic.stop(args)
    args.missing_ok = True
    assert traffic.stop(args) == 0
    assert "no traffic process" in capsys.readouterr().out


def test_cli_offers_the_traffic_steps_with_bounded_defaults():
    args = parser().parse_args(["testhosts", "traffic", "start", "--owner", "o", "--state-dir", "d"])
    assert (args.action, args.step, args.owner) == ("traffic", "start", "o")
    assert args.max_seconds == 3600
    assert args.interval <= 1.0
    with pytest.raises(SystemExit):
        parser().parse_args(["testhosts", "traffic", "start", "--state-dir", "d"])
