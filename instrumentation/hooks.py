"""Lifecycle hooks of one plan's execution: what metrics, traces and logs see of it.

Modelled on strawberry's and ariadne's extensions: a class whose methods do nothing, to subclass and override.
The executor holds `hooks=None` by default and then takes none of the paths below — it does not even count keys
or look fetches up for them — so a gateway without observability pays nothing for their existence.

    class Timing(ExecutionHooks):
        def called(self, call, fetches, record, error):
            print(record.service, record.ms)

A level's group (one service's fetches at one plan level) and each downstream call are context managers, so
that a tracer can make its span the current one for everything run inside: a call span is then the parent of
whatever the transport sends, and a level span the parent of its calls.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Final

from .call import Call, CallRecord
from .errors import DownstreamError
from .plan import BatchFetch, Fetch

__all__ = ["ExecutionHooks", "LevelGroup", "combine_hooks", "describe_fetches"]

_NOTHING: Final[AbstractContextManager[None]] = contextlib.nullcontext()  # reusable: it holds no state


@dataclass(frozen=True, slots=True)
class LevelGroup:
    """One service's fetches at one level of the plan, about to run (their dependencies are done)."""

    level: int
    service: str
    fetches: tuple[Fetch, ...]
    requested: int = 0  # keys gathered from the parents, duplicates included (0 at level 0: no parents)
    distinct: int = 0  # the keys that go out: de-duplicated with batching on, one per parent with it off


class ExecutionHooks:
    """No-op hooks; override the ones you need. One instance serves every request of a gateway, concurrently:
    per-request state belongs in context variables, not in attributes."""

    __slots__ = ()

    def level(self, group: LevelGroup) -> AbstractContextManager[None]:
        """Around the run of one level's group: its calls, its merge."""
        return _NOTHING

    def call(self, call: Call, fetches: tuple[Fetch, ...]) -> AbstractContextManager[None]:
        """Around one downstream call (all its tries), `fetches` being the plan's fetches it serves."""
        return _NOTHING

    def called(
        self, call: Call, fetches: tuple[Fetch, ...], record: CallRecord, error: DownstreamError | None
    ) -> None:
        """After one downstream call, inside `call(...)`: what it cost, and why it failed if it did."""


def combine_hooks(*hooks: ExecutionHooks | None) -> ExecutionHooks | None:
    """One hooks object for several (None for none at all, so that the executor keeps its plain path)."""
    present = [h for h in hooks if h is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return _Combined(present)


def _overrides(hooks: ExecutionHooks, name: str) -> bool:
    return getattr(type(hooks), name) is not getattr(ExecutionHooks, name)


class _Combined(ExecutionHooks):
    """Calls only the hooks that override a method: a metrics hook without spans adds no context manager."""

    __slots__ = ("_call", "_called", "_level")

    def __init__(self, hooks: Sequence[ExecutionHooks]) -> None:
        self._level = [h for h in hooks if _overrides(h, "level")]
        self._call = [h for h in hooks if _overrides(h, "call")]
        self._called = [h for h in hooks if _overrides(h, "called")]

    def level(self, group: LevelGroup) -> AbstractContextManager[None]:
        return _together([h.level(group) for h in self._level])

    def call(self, call: Call, fetches: tuple[Fetch, ...]) -> AbstractContextManager[None]:
        return _together([h.call(call, fetches) for h in self._call])

    def called(
        self, call: Call, fetches: tuple[Fetch, ...], record: CallRecord, error: DownstreamError | None
    ) -> None:
        for hooks in self._called:
            hooks.called(call, fetches, record, error)


def _together(managers: Sequence[AbstractContextManager[None]]) -> AbstractContextManager[None]:
    """One context manager for several: none at all when no hook has one to give (metrics with logs: no call
    spans), the one itself when there is one."""
    if not managers:
        return _NOTHING
    if len(managers) == 1:
        return managers[0]
    return _all(managers)


@contextlib.contextmanager
def _all(managers: Sequence[AbstractContextManager[None]]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for manager in managers:
            stack.enter_context(manager)
        yield


_NUMBERED: Final = re.compile(r"__\d+$")  # the planner's canonical key of a field asked with other arguments


def describe_fetches(fetches: Sequence[Fetch]) -> str:
    """What a call serves, as a schema coordinate: `Order.product`; for root fields, the operation's root type
    and the fields as asked of the service (`Query.orders`). Several fetches sharing one call are joined with
    `+`. Depends only on the schema and the query's shape, never on values: fit for a metric label."""
    names: set[str] = set()
    for fetch in fetches:
        if isinstance(fetch, BatchFetch):
            names.add(str(fetch.coordinate))
        else:
            root = "Query" if fetch.operation == "query" else "Mutation"
            names.update(f"{root}.{_NUMBERED.sub('', key)}" for key in fetch.keys)
    return "+".join(sorted(names))
