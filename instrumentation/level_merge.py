"""Merge a service's fetches across levels where that costs the request no time.

With one call per service per level, a query whose buyers (level 1) and sellers (level 2) both come from
accounts makes two accounts calls. The response cannot be complete before level 2 anyway, so the buyers' keys
can wait and go with the sellers' in one call: a call, and a slot in accounts' pool, saved at no latency.

    merged = merge_levels(plan, in_process=frozenset(), latency_ms={"accounts": 4.2, "catalog": 6.0})

The pass estimates when each fetch would start and finish (a fetch starts when the fetches it depends on have
finished; it lasts its service's estimated latency, or one unit per call when there are no estimates: by depth)
and the latest each may finish without delaying anything that depends on it or the whole request. A batch fetch
moves to a later level's group of the same service and source when (a) that group does not start any earlier
than the fetch could, so the group is not delayed by the fetch's own dependencies, (b) the group finishes no
later than the fetch may, and (c) that level is below every fetch that depends on it. The moved fetch keeps
its dependencies and records where it was planned (`BatchFetch.deferred_from`, shown by print_plan). The result is
a function of the plan and the estimates only, so calls stay deterministic for a given plan.
In-process loaders are not calls and never move.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Final

from .plan import BatchFetch, Fetch, Plan

__all__ = ["merge_levels"]

_UNIT: Final = 1.0  # a call's duration when no service has an estimate
_EPSILON: Final = 1e-9


def merge_levels(
    plan: Plan, *, in_process: frozenset[str] = frozenset(), latency_ms: Mapping[str, float] | None = None
) -> Plan:
    """The plan with every fetch that can wait for a later call to its service moved there (see the module).

    `in_process`: names of sources that answer in the gateway; `latency_ms`: estimated call duration per
    service (missing services count as the mean of the known ones)."""
    fetches = list(plan.fetches)
    if sum(isinstance(f, BatchFetch) for f in fetches) < 2:
        return plan
    cost = _costs(fetches, latency_ms or {})
    moved = False
    # One fetch at a time, lowest level first, until nothing can move: each move keeps the request's length,
    # so the timings are recomputed from the plan as it now is. At most one move per fetch: bounded.
    for _ in range(len(fetches)):
        move = _next_move(fetches, cost, in_process)
        if move is None:
            break
        index, level = move
        fetch = fetches[index]
        assert isinstance(fetch, BatchFetch)
        fetches[index] = dataclasses.replace(
            fetch,
            level=level,
            deferred_from=fetch.deferred_from if fetch.deferred_from is not None else fetch.level,
        )
        moved = True
    if not moved:
        return plan
    return dataclasses.replace(plan, fetches=tuple(sorted(fetches, key=lambda f: (f.level, f.id))))


def _costs(fetches: list[Fetch], latency_ms: Mapping[str, float]) -> dict[int, float]:
    known = [ms for ms in latency_ms.values() if ms > 0]
    default = sum(known) / len(known) if known else _UNIT
    return {f.id: latency_ms.get(f.service, default) if known else _UNIT for f in fetches}


def _next_move(
    fetches: list[Fetch], cost: Mapping[int, float], in_process: frozenset[str]
) -> tuple[int, int] | None:
    """(index of a fetch, the level it moves to), or None when none can move."""
    start: dict[int, float] = {}
    finish: dict[int, float] = {}
    for f in sorted(fetches, key=lambda f: (f.level, f.id)):  # dependencies are at lower levels
        start[f.id] = max((finish[d] for d in f.depends_on), default=0.0)
        finish[f.id] = start[f.id] + cost[f.id]
    end = max(finish.values())
    dependents: dict[int, list[Fetch]] = {f.id: [] for f in fetches}
    for f in fetches:
        for d in f.depends_on:
            dependents[d].append(f)
    latest_finish: dict[int, float] = {}
    for f in sorted(fetches, key=lambda f: (f.level, f.id), reverse=True):
        latest_finish[f.id] = min((latest_finish[c.id] - cost[c.id] for c in dependents[f.id]), default=end)
    groups: dict[tuple[str, str, int], list[Fetch]] = {}
    for f in fetches:
        groups.setdefault((f.service, f.source, f.level), []).append(f)
    for index, fetch in sorted(enumerate(fetches), key=lambda item: (item[1].level, item[1].id)):
        if not isinstance(fetch, BatchFetch) or fetch.source in in_process:
            continue
        below = min((c.level for c in dependents[fetch.id]), default=None)
        candidates = [
            level
            for (service, source, level), members in groups.items()
            if service == fetch.service
            and source == fetch.source
            and level > fetch.level
            and (below is None or level < below)
            and all(isinstance(m, BatchFetch) for m in members)
            and _fits(fetch, members, start, cost, latest_finish)
        ]
        if candidates:
            return index, max(candidates)
    return None


def _fits(
    fetch: BatchFetch,
    members: list[Fetch],
    start: Mapping[int, float],
    cost: Mapping[int, float],
    latest_finish: Mapping[int, float],
) -> bool:
    group_start = max(start[m.id] for m in members)
    # Estimates are sums of floats: a tolerance keeps an exact tie a fit.
    return (
        start[fetch.id] <= group_start + _EPSILON
        and group_start + cost[fetch.id] <= latest_finish[fetch.id] + _EPSILON
    )
