"""instrumentation.level_merge on plans written by hand (a plan is plain data): which fetches wait for a later
call to their service, judged by depth or by the services' latencies, and which must not."""

from __future__ import annotations

from collections.abc import Mapping

from instrumentation.call import CallRecord
from instrumentation.latency import LatencyEstimates
from instrumentation.level_merge import merge_levels
from instrumentation.plan import BatchFetch, BatchRequest, ParentPath, PathStep, Plan, RootFetch
from instrumentation.projection import Projection, object_completer
from instrumentation.selection import Selection
from registry.bindings import FieldCoordinate

ROOT = RootFetch(0, "orders", "graphql", "query", ("orders",), Selection())


def batch(id_: int, service: str, level: int, *depends_on: int, source: str = "rest") -> BatchFetch:
    return BatchFetch(
        id=id_,
        service=service,
        source=source,
        level=level,
        coordinate=FieldCoordinate("T", f"f{id_}"),
        request=BatchRequest(path="/x"),
        paths=(ParentPath((PathStep("orders"),), ("k",)),),
        storage=f"f{id_}",
        selection=Selection(),
        one_to_many=False,
        select=None,
        depends_on=depends_on,
    )


def plan(*fetches: BatchFetch) -> Plan:
    return Plan("query", (ROOT, *fetches), {}, Projection(object_completer("Query", (), None)))


def levels(merged: Plan) -> Mapping[int, tuple[int, int | None]]:
    """fetch id → (level, the level it was deferred from)."""
    return {f.id: (f.level, f.deferred_from) for f in merged.fetches if isinstance(f, BatchFetch)}


def test_a_fetch_nothing_depends_on_waits_for_the_later_call_to_its_service() -> None:
    # buyers (accounts, level 1) and sellers (accounts, level 2, after the products)
    merged = merge_levels(
        plan(batch(1, "catalog", 1, 0), batch(2, "accounts", 2, 1), batch(3, "accounts", 1, 0))
    )
    assert levels(merged) == {1: (1, None), 2: (2, None), 3: (2, 1)}
    assert [f.id for f in merged.fetches] == [0, 1, 2, 3]  # sorted by level: dependencies first


def test_it_goes_to_the_latest_call_it_can_join() -> None:
    merged = merge_levels(
        plan(
            batch(1, "catalog", 1, 0),
            batch(2, "accounts", 2, 1),
            batch(3, "reviews", 2, 1),
            batch(4, "accounts", 3, 3),
            batch(5, "accounts", 1, 0),
        )
    )
    assert levels(merged) == {1: (1, None), 2: (3, 2), 3: (2, None), 4: (3, None), 5: (3, 1)}


def test_a_fetch_never_moves_to_or_past_the_level_of_a_fetch_that_needs_its_answer() -> None:
    # 3 (accounts, level 1) feeds 4 (orders, level 2); accounts' other call is at level 2
    original = plan(
        batch(1, "catalog", 1, 0), batch(2, "accounts", 2, 1), batch(3, "accounts", 1, 0), batch(4, "o", 2, 3)
    )
    assert merge_levels(original) is original


def test_fetches_of_another_source_or_in_process_ones_stay() -> None:
    other_source = plan(
        batch(1, "catalog", 1, 0), batch(2, "accounts", 2, 1), batch(3, "accounts", 1, 0, source="graphql")
    )
    assert merge_levels(other_source) is other_source
    loaders = plan(
        batch(1, "catalog", 1, 0),
        batch(2, "rank", 2, 1, source="loader"),
        batch(3, "rank", 1, 0, source="loader"),
    )
    assert merge_levels(loaders, in_process=frozenset({"loader"})) is loaders


# 3 (a, level 1) feeds 4 (y, level 3); a's other call, 2, is at level 2 after 1 (x); 5 (z) follows 2.
CHAIN = plan(
    batch(1, "x", 1, 0), batch(2, "a", 2, 1), batch(3, "a", 1, 0), batch(4, "y", 3, 3), batch(5, "z", 3, 2)
)


def test_by_depth_a_fetch_with_slack_moves() -> None:
    # every call one unit: 3 may finish as late as 3 (4 then ends at 4 with 5); joining 2 it finishes at 3
    assert levels(merge_levels(CHAIN))[3] == (2, 1)


def test_with_latencies_a_move_that_would_lengthen_the_request_is_not_made() -> None:
    # y takes 10 ms: 3 → 4 is the critical path, and 3 waiting for x's 1 ms would add that to the request
    latency = {"orders": 1.0, "x": 1.0, "a": 1.0, "y": 10.0, "z": 1.0}
    assert merge_levels(CHAIN, latency_ms=latency) is CHAIN
    # when z is the slow one, 3 has room to wait
    assert levels(merge_levels(CHAIN, latency_ms={**latency, "y": 1.0, "z": 10.0}))[3] == (2, 1)


def test_a_service_with_no_estimate_counts_as_the_mean_of_the_known_ones() -> None:
    # y unknown: it counts as the mean of the others, 1 ms; 3 has the slack it has by depth
    assert levels(merge_levels(CHAIN, latency_ms={"orders": 1.0, "x": 1.0, "a": 1.0, "z": 1.0}))[3] == (2, 1)


def test_latency_estimates_are_a_moving_average_of_successful_calls() -> None:
    estimates = LatencyEstimates(alpha=0.5)

    def call(service: str, ms: float, outcome: str = "ok") -> CallRecord:
        return CallRecord(service, 1, (1,), 3, 0, ms, outcome)

    estimates.observe([call("a", 10.0), call("b", 4.0)])
    estimates.observe([call("a", 20.0), call("b", 1000.0, "DOWNSTREAM_TIMEOUT")])
    assert estimates.snapshot() == {"a": 15.0, "b": 4.0}
