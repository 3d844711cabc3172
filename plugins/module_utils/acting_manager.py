# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Which managers can act for the others during a rolling upgrade, and which one acts for a node.

Cluster-side steps (quorum checks, drains, readiness waits, the lock) run on a manager other than
the node being rolled. The candidates come from the inventory's manager group, never from the
play's hosts: ``--limit`` shrinks those, and a run limited to one worker must still act from a
manager outside the limit (Ansible can delegate to any inventory host). A manager qualifies only
if its engine answered just now as an active manager (``swarm_host_info``); an unreachable host,
a failed probe, a locked or demoted manager does not.

Pure: callers pass the probe results they registered. Python 3.9 syntax.
"""

from __future__ import annotations


def answers_as_manager(result) -> bool:
    """Whether a swarm_host_info result says: reachable, and an active manager right now."""
    if not isinstance(result, dict) or result.get("unreachable") or result.get("failed"):
        return False
    if result.get("skipped"):
        return False
    swarm = result.get("swarm") or {}
    return swarm.get("state") == "active" and bool(swarm.get("is_manager"))


def acting_managers(results: dict, managers, exclude=()) -> list:
    """The managers (in inventory order) whose probe answered as an active manager.

    ``results`` maps host name -> swarm_host_info result (a loop item's result included);
    ``exclude`` lists hosts that must not act (the node being rolled).
    """
    results = results or {}
    skip = set(exclude or ())
    return [name for name in managers or [] if name not in skip and answers_as_manager(results.get(name))]


def results_by_host(loop_results) -> dict:
    """{item: result} of a registered loop (``register`` over ``loop: <host names>``)."""
    out = {}
    for result in (loop_results or {}).get("results", []) if isinstance(loop_results, dict) else []:
        if isinstance(result, dict) and isinstance(result.get("item"), str):
            out[result["item"]] = result
    return out
