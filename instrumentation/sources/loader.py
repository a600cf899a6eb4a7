"""In-process loaders (`@gateway.loader`): an async function of the list of parents, run in the gateway.

The parents themselves are the keys (not de-duplicated by value, not limited by `max_keys`, not chunked): one
call with every parent of the level, or one per parent with batching off. The function must return one value
per parent, in order; it ends by the request's deadline like any downstream call. It is named in the plan by
its field's coordinate and found in the gateway's function table.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from registry.bindings import FieldCoordinate

from ..errors import DownstreamError, ErrorCode, FieldError
from ..merge import Lookup, Pending
from ..plan import BatchFetch, BatchRequest
from .base import CallContext, Part, Source

__all__ = ["LoaderFailed", "LoaderSource", "LocalCall"]


@dataclass(frozen=True, slots=True)
class LocalCall:
    """A call of an in-process loader: its parents, and what the accounting records of it."""

    service: str
    coordinate: FieldCoordinate
    parents: Sequence[Any]
    keys: int
    level: int = 0
    chunk: int = 0
    deadline: float | None = None


class LoaderFailed(DownstreamError):
    """The loader raised, returned the wrong number of values, or did not end by the deadline."""

    code: ErrorCode = ErrorCode.LOADER_ERROR
    names_service: ClassVar[bool] = False

    def __init__(self, message: str, *, service: str, code: ErrorCode = ErrorCode.LOADER_ERROR) -> None:
        super().__init__(message, service=service)
        self.code = code


class LoaderSource(Source):
    name = "loader"
    matched = False
    keyed = False
    in_process = True

    def label(self, request: BatchRequest) -> str:
        return "loader (local)"

    def batch_call(self, parts: Sequence[Part], context: CallContext, level: int, chunk: int) -> LocalCall:
        (part,) = parts
        fetch = part.fetches[0]
        return LocalCall(fetch.service, fetch.coordinate, part.keys, len(part.keys), level, chunk)

    async def answer(self, call: LocalCall, context: CallContext) -> list[Any]:
        function = context.functions[call.coordinate]
        parents = list(call.parents)
        left = None if call.deadline is None else max(0.0, call.deadline - time.monotonic())
        try:
            values = list(await asyncio.wait_for(function(parents), left))
        except TimeoutError as error:
            message = f"{call.coordinate}: no answer by the request's deadline"
            raise LoaderFailed(message, service=call.service, code=ErrorCode.DOWNSTREAM_TIMEOUT) from error
        except Exception as error:
            raise LoaderFailed(f"{call.coordinate}: {error}", service=call.service) from error
        if len(values) != len(parents):
            message = f"{call.coordinate}: returned {len(values)} values for {len(parents)} parents"
            raise LoaderFailed(message, service=call.service)
        return values

    def index(self, parts: Sequence[Part], answer: Any, lookups: Sequence[Lookup]) -> None:
        for part, lookup in zip(parts, lookups, strict=True):
            for parent, value in zip(part.keys, answer, strict=True):
                lookup[_identity(parent)] = value

    def fail(self, parts: Sequence[Part], lookups: Sequence[Lookup], failed: FieldError) -> None:
        for part, lookup in zip(parts, lookups, strict=True):
            for parent in part.keys:
                lookup[_identity(parent)] = failed

    def assign(self, fetch: BatchFetch, pending: Pending, lookup: Lookup) -> None:
        storage = fetch.storage
        for parent, _ in pending:
            parent[storage] = lookup.get(_identity(parent))


def _identity(parent: Any) -> str:
    """Parents are told apart by identity: two equal objects are still two parents."""
    return str(id(parent))
