# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Batch planning for rolling upgrades and restarts.

The order encodes the cluster's safety rules (docs/engine-facts.md):

* control-plane nodes (swarm managers, k3s servers) go first and strictly one at a time, because
  each one down spends the quorum's only margin (3 managers tolerate 1 down);
* among them the current leader goes last. Restarting a follower does not move leadership, so the
  followers cost no election; the leader's restart then costs exactly one, and the new leader is
  already on the new release. Leader first would cost an election now and another when the
  manager that took over is upgraded later;
* workers follow in batches of the operator's size, so capacity loss is bounded and chosen;
* nodes that already run the target are skipped and listed, so re-running after a failure resumes
  where it stopped instead of draining finished nodes again.

The plan is plain data for a ``--check`` printout and for the module that executes it.
Kept to Python 3.9 syntax because module_utils run on managed nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ansible_collections.flotilla.cluster.plugins.module_utils.versions import (
    parse_engine_version,
    validate_upstream,
    version_reached,
)

CONTROL_ROLES = ("manager", "server")
WORKER_ROLES = ("worker", "agent")

_COUNT_RE = re.compile(r"^[0-9]+$")
_PERCENT_RE = re.compile(r"^([0-9]+)\s*%$")


def _batch_size_error(value) -> ValueError:
    return ValueError(
        f"batch size {value!r} is not valid: use a whole number of nodes of at least 1 (e.g. 2) "
        'or a percentage from 1% to 100% (e.g. "30%")'
    )


def parse_batch_size(value, total: int) -> int:
    """Resolve a batch size (``2``, ``"2"`` or ``"30%"``) to a node count for ``total`` nodes.

    Percentages round up and never give less than 1, so "1%" of 10 workers still makes progress
    and "33%" of 10 is 4, never a batch of 0 that would loop forever. A count larger than
    ``total`` is capped to it. Zero, negatives, above 100%, fractions and anything else raise
    ValueError naming the value, even when ``total`` is 0, so a bad inventory fails in preflight
    and not halfway through a rollout that happens to reach the workers.
    """
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ValueError(f"node count must be a whole number of at least 0, got {total!r}")
    if isinstance(value, bool):
        raise _batch_size_error(value)
    if isinstance(value, int):
        count = value
    elif isinstance(value, str):
        text = value.strip()
        percent = _PERCENT_RE.match(text)
        if percent:
            share = int(percent.group(1))
            if not 1 <= share <= 100:
                raise _batch_size_error(value)
            # Integer ceiling: float maths would turn 30% of 10 into 3.0000000000000004 -> 4.
            count = max(1, -(-share * total // 100))
        elif _COUNT_RE.match(text):
            count = int(text)
        else:
            raise _batch_size_error(value)
    else:
        raise _batch_size_error(value)
    if count < 1:
        raise _batch_size_error(value)
    return max(1, min(count, total))


@dataclass(frozen=True)
class PlanNode:
    """A node as the planner needs it: ``version`` is what its running engine reports (None if
    unknown, e.g. unreachable), ``leader`` is true for the current swarm leader."""

    name: str
    role: str
    version: str | None = None
    leader: bool = False


@dataclass(frozen=True)
class Batch:
    number: int
    role: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class SkippedNode:
    name: str
    role: str
    reason: str


@dataclass(frozen=True)
class UpgradePlan:
    target_version: str | None
    worker_batch_size: int
    batches: tuple[Batch, ...]
    skipped: tuple[SkippedNode, ...]
    warnings: tuple[str, ...] = ()

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(name for batch in self.batches for name in batch.nodes)

    def as_dict(self) -> dict:
        """JSON-ready data (lists, not tuples) for module results and reports."""
        return {
            "target_version": self.target_version,
            "worker_batch_size": self.worker_batch_size,
            "batches": [{"number": b.number, "role": b.role, "nodes": list(b.nodes)} for b in self.batches],
            "skipped": [{"name": s.name, "role": s.role, "reason": s.reason} for s in self.skipped],
            "pending": list(self.pending),
            "warnings": list(self.warnings),
        }

    def lines(self) -> list[str]:
        """Human-readable plan, one line per batch, for check mode and the CLI."""
        target = f" to {self.target_version}" if self.target_version else ""
        out = [f"{len(self.pending)} node(s) in {len(self.batches)} batch(es){target}"]
        out.extend(f"batch {b.number} ({b.role}): {', '.join(b.nodes)}" for b in self.batches)
        out.extend(f"skip {s.name} ({s.role}): {s.reason}" for s in self.skipped)
        out.extend(f"warning: {w}" for w in self.warnings)
        return out


def _coerce(node) -> PlanNode:
    if isinstance(node, PlanNode):
        result = node
    elif isinstance(node, dict):
        unknown = set(node) - {"name", "role", "version", "leader"}
        if unknown:
            raise ValueError(f"unknown node field(s) {sorted(unknown)} in {node!r}")
        if "name" not in node or "role" not in node:
            raise ValueError(f"a node needs 'name' and 'role', got {node!r}")
        result = PlanNode(**node)
    else:
        raise ValueError(f"a node must be a PlanNode or a dict, got {node!r}")
    if not result.name:
        raise ValueError(f"node name must not be empty: {node!r}")
    if result.role not in CONTROL_ROLES + WORKER_ROLES:
        raise ValueError(
            f"node {result.name!r} has role {result.role!r}; expected one of "
            f"{', '.join(CONTROL_ROLES + WORKER_ROLES)}"
        )
    return result


def _skip_reason(node: PlanNode, target: str | None) -> tuple[str | None, bool]:
    """Why ``node`` needs no work (None when it must be upgraded), and whether that is drift.

    A node newer than the target is skipped rather than downgraded (the engine does not support
    downgrades in place), but it is drift the operator must hear about, hence the flag.
    """
    if target is None or node.version is None:
        return None, False
    try:
        if version_reached(node.version, target):
            return f"already runs {target}", False
        newer = parse_engine_version(node.version) > parse_engine_version(target)
    except ValueError as exc:
        raise ValueError(f"node {node.name!r}: {exc}") from exc
    if newer:
        return f"runs {node.version}, newer than the target {target}; rolling upgrades do not downgrade", True
    return None, False


def plan_upgrade(nodes, batch_size=1, target_version: str | None = None) -> UpgradePlan:
    """Order ``nodes`` into batches: control plane one by one (leader last), then workers.

    ``batch_size`` applies to workers only and resolves against *all* workers, skipped ones
    included, so a resumed run keeps the batch size the operator saw in the first plan. Without
    ``target_version`` nothing is skipped: the same plan serves rolling restarts. Nodes keep their
    inventory order within a tier, so plans are stable between runs.
    """
    target = validate_upstream(target_version) if target_version is not None else None
    parsed = [_coerce(node) for node in nodes]

    seen: set[str] = set()
    for node in parsed:
        if node.name in seen:
            raise ValueError(f"node {node.name!r} is listed twice")
        seen.add(node.name)
    leaders = [n.name for n in parsed if n.leader]
    if len(leaders) > 1:
        raise ValueError(f"more than one node is flagged leader: {', '.join(leaders)}")
    for name in leaders:
        if next(n for n in parsed if n.name == name).role not in CONTROL_ROLES:
            raise ValueError(f"node {name!r} is flagged leader but is not a manager or server")

    control = [n for n in parsed if n.role in CONTROL_ROLES]
    workers = [n for n in parsed if n.role in WORKER_ROLES]
    size = parse_batch_size(batch_size, len(workers))

    skipped: list[SkippedNode] = []
    warnings: list[str] = []

    def pending_of(group: list[PlanNode]) -> list[PlanNode]:
        todo = []
        for node in group:
            reason, drift = _skip_reason(node, target)
            if reason is None:
                todo.append(node)
                continue
            skipped.append(SkippedNode(node.name, node.role, reason))
            if drift:
                warnings.append(f"{node.name} {reason}")
        return todo

    control_todo = pending_of(control)
    # Stable sort: False (followers) before True (the leader), inventory order otherwise.
    control_todo.sort(key=lambda n: n.leader)
    worker_todo = pending_of(workers)

    batches: list[Batch] = [Batch(i + 1, node.role, (node.name,)) for i, node in enumerate(control_todo)]
    for start in range(0, len(worker_todo), size):
        chunk = worker_todo[start : start + size]
        batches.append(Batch(len(batches) + 1, chunk[0].role, tuple(n.name for n in chunk)))

    if len(workers) > 1 and size >= len(workers) and worker_todo:
        warnings.append(
            f"the worker batch size {size} covers all {len(workers)} workers: they drain together and "
            "their services can only move to managers"
        )
    return UpgradePlan(
        target_version=target,
        worker_batch_size=size,
        batches=tuple(batches),
        skipped=tuple(skipped),
        warnings=tuple(warnings),
    )
