# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Swarm manager quorum arithmetic.

Swarm managers replicate the cluster state with Raft: every change needs a majority of the
*configured* manager count to be reachable, not a majority of the managers that happen to be up.
Losing that majority freezes the control plane (no scheduling, no updates, no joins) until an
operator forces a new cluster. Every step of a rolling operation that touches a manager therefore
asks this module first, with the reachability it just read from the engine.

The code is pure: the caller turns engine node objects into :class:`Manager` values (see
:func:`manager_from_api`) and acts on the :class:`QuorumDecision`. It runs on managed nodes, so it
avoids syntax newer than the oldest Python those hosts ship (3.9 on EL9).
"""

from __future__ import annotations

from dataclasses import dataclass

ACTION_DOWN = "down"
ACTION_DEMOTE = "demote"
ACTION_PROMOTE = "promote"
ACTION_REMOVE = "remove"
ACTIONS = (ACTION_DOWN, ACTION_DEMOTE, ACTION_PROMOTE, ACTION_REMOVE)

# Seconds, from docs/engine-facts.md; quoted in reasons so an operator knows how long a pause is normal.
ELECTION_SECONDS = 10


def majority(n: int) -> int:
    """Managers that must be reachable for a swarm of ``n`` managers to accept changes."""
    _require_manager_count(n)
    return n // 2 + 1


def tolerated_failures(n: int) -> int:
    """Managers that may be down at once while the other ``n`` keep quorum.

    An even count buys nothing over the odd count below it (4 tolerate 1, like 3), which is why
    summaries warn about even counts.
    """
    _require_manager_count(n)
    return (n - 1) // 2


def _require_manager_count(n: int) -> None:
    # bool is an int subclass; True managers is a caller bug, not 1 manager.
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"manager count must be a whole number of at least 1, got {n!r}")


@dataclass(frozen=True)
class Manager:
    """One manager as the engine last reported it.

    ``reachable`` is ManagerStatus.Reachability == "reachable"; "unknown" counts as unreachable
    because quorum cannot rely on a node whose state is unknown.
    """

    node_id: str
    reachable: bool
    leader: bool = False
    hostname: str = ""

    @property
    def label(self) -> str:
        return self.hostname or self.node_id


def manager_from_api(node: dict) -> Manager | None:
    """Build a :class:`Manager` from an engine node object (``GET /nodes``), or None for a worker.

    A node whose ManagerStatus is missing is a worker even if Spec.Role says manager: promotion
    is still in progress and it does not vote yet.
    """
    status = node.get("ManagerStatus")
    if not status:
        return None
    description = node.get("Description") or {}
    return Manager(
        node_id=node.get("ID", ""),
        reachable=status.get("Reachability") == "reachable",
        leader=bool(status.get("Leader", False)),
        hostname=description.get("Hostname", ""),
    )


@dataclass(frozen=True)
class QuorumDecision:
    """Whether an action on one node keeps quorum, and what to do about it.

    ``majority_needed`` is the majority of the manager count *after* the action, which is the
    bar ``reachable_after`` must clear. ``reason`` is written for the operator: it says why, and
    when refused, what to do next.
    """

    allowed: bool
    reason: str
    action: str
    node: str
    is_manager: bool
    managers_before: int
    managers_after: int
    reachable_before: int
    reachable_after: int
    majority_needed: int
    leader_affected: bool = False


def _index_managers(managers: list[Manager] | tuple[Manager, ...]) -> dict[str, Manager]:
    by_id: dict[str, Manager] = {}
    leaders = []
    for manager in managers:
        if manager.node_id in by_id:
            raise ValueError(f"manager {manager.node_id!r} is listed twice")
        by_id[manager.node_id] = manager
        if manager.leader:
            leaders.append(manager.node_id)
    if len(leaders) > 1:
        raise ValueError(f"more than one manager is flagged leader: {', '.join(leaders)}")
    return by_id


def _find(by_id: dict[str, Manager], node: str) -> Manager | None:
    """Look a node up by ID first, then by hostname, so callers may use either."""
    if node in by_id:
        return by_id[node]
    matches = [m for m in by_id.values() if m.hostname and m.hostname == node]
    if len(matches) > 1:
        raise ValueError(f"hostname {node!r} matches several managers; use the node ID")
    return matches[0] if matches else None


def check_action(managers, action: str, node: str) -> QuorumDecision:
    """Decide whether ``action`` on ``node`` keeps the swarm's manager quorum.

    Actions:

    * ``down``: the node stops answering for a while (engine restart, reboot, upgrade). The
      manager count is unchanged, so the managers still reachable must be a majority of it.
    * ``demote`` / ``remove``: the node leaves the Raft membership, so the count shrinks by one and
      the remaining reachable managers must be a majority of the *new* count. The membership change
      is itself a Raft write, so the swarm must hold quorum now as well. The engine refuses to
      remove a manager, so ``remove`` of a manager is the same arithmetic plus "demote it first".
    * ``promote``: the count grows by one; the new manager is assumed reachable (promote only
      ready nodes). The change needs quorum now and a majority of the new count afterwards.

    Acting on a worker never changes quorum: ``down``/``remove`` are allowed and ``demote`` is a
    no-op. ``promote`` of an existing manager is a no-op.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown quorum action {action!r}; expected one of: {', '.join(ACTIONS)}")
    if not managers:
        raise ValueError("the manager list is empty; a swarm always has at least one manager")
    by_id = _index_managers(managers)
    target = _find(by_id, node)
    total = len(by_id)
    reachable = sum(1 for m in by_id.values() if m.reachable)
    label = target.label if target else node
    has_quorum = reachable >= majority(total)

    def decision(allowed, reason, after_total=total, after_reachable=reachable, leader=False):
        return QuorumDecision(
            allowed=allowed,
            reason=reason,
            action=action,
            node=label,
            is_manager=target is not None,
            managers_before=total,
            managers_after=after_total,
            reachable_before=reachable,
            reachable_after=after_reachable,
            majority_needed=majority(after_total) if after_total else 0,
            leader_affected=leader,
        )

    lost = (
        f"quorum is already lost: {reachable} of {total} managers reachable, {majority(total)} needed; "
        "bring unreachable managers back (or recover with 'docker swarm init --force-new-cluster' "
        "on a surviving manager) before changing anything"
    )

    if target is None:
        if action == ACTION_PROMOTE:
            after_total, after_reachable = total + 1, reachable + 1
            if not has_quorum:
                return decision(False, f"cannot promote {label}: {lost}", after_total, after_reachable)
            tolerated = tolerated_failures(after_total)
            reason = f"promoting {label} gives {after_total} managers tolerating {tolerated} down"
            if after_total % 2 == 0:
                reason += (
                    f"; an even count tolerates no more failures than {after_total - 1}, "
                    "promote one more node to gain fault tolerance"
                )
            return decision(True, reason, after_total, after_reachable)
        if action == ACTION_DEMOTE:
            return decision(True, f"{label} is not a manager: nothing to demote, quorum unaffected")
        return decision(True, f"{label} is not a manager: quorum unaffected")

    leader = target.leader and target.reachable
    election = f"; {label} is the leader, expect an election of about {ELECTION_SECONDS}s" if leader else ""

    if action == ACTION_PROMOTE:
        return decision(True, f"{label} is already a manager: nothing to promote")

    if action == ACTION_DOWN:
        after_reachable = reachable - (1 if target.reachable else 0)
        need = majority(total)
        if not has_quorum:
            return decision(False, f"cannot take {label} down: {lost}", total, after_reachable)
        if after_reachable < need:
            return decision(
                False,
                f"taking {label} down would leave {after_reachable} of {total} managers reachable, "
                f"{need} needed for quorum; wait until the other managers are reachable again"
                + (" or add managers (3 or 5 tolerate a manager down)" if total <= 2 else ""),
                total,
                after_reachable,
                leader,
            )
        spare = after_reachable - need
        return decision(
            True,
            f"{label} may go down: {after_reachable} of {total} managers stay reachable, {need} needed "
            f"({spare} more may fail meanwhile){election}",
            total,
            after_reachable,
            leader,
        )

    # demote or remove: the membership shrinks.
    verb = "demote" if action == ACTION_DEMOTE else "remove"
    if total == 1:
        return decision(
            False,
            f"cannot {verb} {label}: it is the only manager; promote another node first",
            total,
            reachable,
            leader,
        )
    after_total = total - 1
    after_reachable = reachable - (1 if target.reachable else 0)
    need = majority(after_total)
    if not has_quorum:
        return decision(False, f"cannot {verb} {label}: {lost}", after_total, after_reachable, leader)
    if after_reachable < need:
        return decision(
            False,
            f"{verb} {label} would leave {after_reachable} of {after_total} managers reachable, {need} "
            "needed for quorum; bring the unreachable managers back first",
            after_total,
            after_reachable,
            leader,
        )
    reason = (
        f"{label} may be {verb}d: {after_reachable} of {after_total} managers stay reachable, "
        f"{need} needed{election}"
    )
    if action == ACTION_REMOVE:
        reason += f"; demote {label} before removing it (the engine refuses to remove a manager)"
    return decision(True, reason, after_total, after_reachable, leader)


@dataclass(frozen=True)
class QuorumSummary:
    """Quorum health for status reports.

    ``can_lose`` is how many more reachable managers may go down right now (negative means quorum
    is lost and by how many managers), as opposed to ``tolerated_failures``, which is what the
    manager count tolerates when all are up. ``healthy`` means quorum, a reachable leader and no
    manager unreachable: the state a rolling operation should start from.
    """

    managers: int
    reachable: int
    majority: int
    tolerated_failures: int
    can_lose: int
    has_quorum: bool
    leader: str | None
    leader_reachable: bool
    healthy: bool
    unreachable: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def quorum_summary(managers) -> QuorumSummary:
    """Summarise quorum health with warnings an operator can act on."""
    if not managers:
        raise ValueError("the manager list is empty; a swarm always has at least one manager")
    by_id = _index_managers(managers)
    total = len(by_id)
    reachable = sum(1 for m in by_id.values() if m.reachable)
    need = majority(total)
    leader = next((m for m in by_id.values() if m.leader), None)
    unreachable = tuple(m.label for m in by_id.values() if not m.reachable)
    leader_reachable = bool(leader and leader.reachable)

    warnings = []
    if reachable < need:
        warnings.append(
            f"quorum lost: {reachable} of {total} managers reachable, {need} needed; the control plane "
            "accepts no changes until unreachable managers return"
        )
    elif reachable == need and total > 1:
        warnings.append(f"no margin: one more manager down loses quorum ({reachable} of {total} reachable)")
    if total == 1:
        warnings.append("a single manager has no fault tolerance; 3 managers tolerate 1 down")
    elif total % 2 == 0:
        warnings.append(
            f"{total} managers tolerate {tolerated_failures(total)} down, no more than {total - 1}; "
            "use an odd manager count"
        )
    if leader is None:
        warnings.append("no manager reports being leader; an election may be in progress")
    elif not leader.reachable:
        warnings.append(f"the leader {leader.label} is unreachable; an election should follow")

    return QuorumSummary(
        managers=total,
        reachable=reachable,
        majority=need,
        tolerated_failures=tolerated_failures(total),
        can_lose=reachable - need,
        has_quorum=reachable >= need,
        leader=leader.label if leader else None,
        leader_reachable=leader_reachable,
        healthy=reachable >= need and leader_reachable and not unreachable,
        unreachable=unreachable,
        warnings=tuple(warnings),
    )
