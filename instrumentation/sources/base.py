"""The `Source` protocol: what one kind of downstream source (a GraphQL batch field, REST, an in-process loader,
Federation `_entities`) must do for the planner and the executor. Everything else is theirs.

The planner asks a source how to plan a field bound to it: whether the service answers a GraphQL selection
(`selects`), which item field the answers are matched by, how the fetch is labelled in a printed plan and, for a
GraphQL-speaking source, the root field as sent. The executor schedules (levels, dependencies, de-duplication of
keys, `max_keys`, chunks by `max_batch`, sending, accounting, hooks) and asks the source three things per group of
keys: build the request (`batch_call`), index the answer back to keys (`index`, failing only the keys concerned),
and give each parent its value (`assign`). When a request fails as a whole the executor fails every key of it, in
one place (`fail_keys`).

A new kind of source is a new module with a subclass of `Source`, registered by name in `default_sources()`
(instrumentation.sources); a binding is routed to it by `source_name()`. The Federation `_entities` source
(`entities.py`) is the example of a source that extends another: it is a GraphQL batch whose keys go out as
representations and whose answers come back by position. What it, or any new source, must implement:

- `name`; the capability flags below (`selects`, `matched`, `keyed`, `one_request`, `in_process`);
- planning: `label(request)`, and when it `selects`, `document_field(...)` and `key_type(...)`;
- executing: `batch_call(parts, context, level, chunk)` → a Call; `index(parts, answer, lookups)`; and when
  `in_process`, `answer(call, context)` instead of a transport.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..call import Call
from ..errors import DownstreamBadResponse, DownstreamError, ErrorCode, FieldError
from ..merge import Lookup, Pending, assign, index_items, normalize
from ..plan import BatchFetch, BatchRequest, RootFetch

__all__ = [
    "CallContext",
    "Part",
    "Source",
    "fail_keys",
    "index_matched",
    "request_error",
    "unusable_answer",
]


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a source may read while building a request: the request's values, never the client's document."""

    variables: Mapping[str, Any]  # the client's raw JSON values, forwarded as they came
    coerced_variables: Mapping[str, Any]  # as graphql-core coerced them (REST path and query arguments)
    variable_definitions: Mapping[str, str]  # name → printed type, for downstream documents
    functions: Mapping[Any, Callable[..., Any]]  # schema coordinate → key function or loader of that field
    deadline: float | None  # time.monotonic() by which the answers are needed


@dataclass(frozen=True, slots=True)
class Part:
    """The fetches of one request that ask for the same keys, and those keys (one chunk of them).

    A GraphQL batch field is one part per fetch (its own alias and variable); the fields reading one REST
    endpoint share a part, so that one key is asked once."""

    fetches: tuple[BatchFetch, ...]
    keys: Sequence[Any]


class Source:
    """One kind of downstream source. Stateless: one instance serves every plan and every request."""

    name: ClassVar[str]
    # The service answers a GraphQL selection: the parent's fields are asked for by name, with arguments,
    # aliases and `__typename` (the planner tells an interface's types apart only with this).
    selects: ClassVar[bool] = False
    # Answers are matched to keys by a field of each item (`request.match`): the planner asks for that field,
    # and a scalar key on a list field gathers every item that matches (one-to-many).
    matched: ClassVar[bool] = True
    # Parents are fetched by a key: keys are de-duplicated, limited by `max_keys` and chunked by `max_batch`.
    # When false the parents themselves are the keys (an in-process loader receives them whole).
    keyed: ClassVar[bool] = True
    # Every part of one chunk goes in one request (aliased root fields of one document); else one per part.
    one_request: ClassVar[bool] = False
    # Answered in the gateway's process by `answer`, not sent through a transport (and not seen by the hooks).
    in_process: ClassVar[bool] = False
    # Some keys cannot be sent (`invalid_key`): the executor asks about each key, and fails only its parents.
    checks_keys: ClassVar[bool] = False

    # -- planning -------------------------------------------------------------------------------------------

    def label(self, request: BatchRequest) -> str:
        """How a batch of this source reads in a printed plan: `productsByIds(ids:)`, `GET /accounts?ids=`."""
        raise NotImplementedError

    def document_field(self, fetch_id: int, request: BatchRequest, selection: str) -> str:
        """The batch's root field in a downstream document (selecting sources only)."""
        return ""

    def key_type(self, scalar: str) -> str:
        """The GraphQL type of the keys variable, `scalar` being the type of the parent's key field."""
        return f"[{scalar}!]!"

    def root_label(self, fetch: RootFetch) -> str:
        """How a root fetch of this source reads in a printed plan (root-capable sources only)."""
        raise NotImplementedError(f"{self.name}: no root fields")

    # -- executing ------------------------------------------------------------------------------------------

    def root_call(self, fetch: RootFetch, context: CallContext) -> Call:
        """The request of a root fetch; raise NotSent when an argument cannot be sent as the contract says."""
        raise NotImplementedError(f"{self.name}: no root fields")

    def absent(self, fetch: RootFetch, error: DownstreamError) -> bool:
        """True when this failure means that the value does not exist (its fields are then null)."""
        return False

    def index_root(self, fetch: RootFetch, answer: Any, root: dict[str, Any]) -> None:
        """Put a root fetch's answer into the merged data under the fetch's keys."""
        raise NotImplementedError(f"{self.name}: no root fields")

    def invalid_key(self, fetch: BatchFetch, key: Any) -> str | None:
        """Why this key cannot be sent (`checks_keys` sources only), or None."""
        return None

    def all_sendable(self, fetch: BatchFetch, keys: Sequence[Any]) -> bool:
        """True when every key can be sent, found at once (False: ask `invalid_key` about each)."""
        return False

    def share(self, fetch: BatchFetch) -> Hashable:
        """Fetches of one group with equal values here share one part (the same keys, asked once)."""
        return fetch.id

    def batch_call(self, parts: Sequence[Part], context: CallContext, level: int, chunk: int) -> Any:
        """The request for these parts' keys (a Call, or for an in-process source whatever `answer` reads)."""
        raise NotImplementedError

    def index(self, parts: Sequence[Part], answer: Any, lookups: Sequence[Lookup]) -> None:
        """Index an answer by key into each part's lookup (`normalize(key)` → item or FieldError); a key the
        answer does not account for is left out (it does not exist) unless the answer says something failed.
        Raise a DownstreamError when the answer as a whole is unusable: every key of the request fails."""
        raise NotImplementedError

    def fail(self, parts: Sequence[Part], lookups: Sequence[Lookup], failed: FieldError) -> None:
        """The request failed as a whole: every key of it gets the error."""
        fail_keys(parts, lookups, failed, keep=False)

    def assign(self, fetch: BatchFetch, pending: Pending, lookup: Lookup) -> None:
        """Give every pending parent its value from the lookup."""
        assign(fetch, pending, lookup)

    async def answer(self, call: Any, context: CallContext) -> Any:
        """Answer a request in process (`in_process` sources only)."""
        raise NotImplementedError


def fail_keys(parts: Sequence[Part], lookups: Sequence[Lookup], failed: FieldError, *, keep: bool) -> None:
    """Every key of these parts gets the error; with `keep`, only those the answer did not account for."""
    for part, lookup in zip(parts, lookups, strict=True):
        for key in part.keys:
            if keep:
                lookup.setdefault(normalize(key), failed)
            else:
                lookup[normalize(key)] = failed


def index_matched(part: Part, items: list[Any], lookup: Lookup, failed: FieldError | None = None) -> None:
    """Index items by the fetch's `request.match` field, in any order, into the part's lookup.

    A key with no item does not exist (null, or an empty list) — unless the answer shows that something went
    wrong: `failed` (errors came with it), items that are not objects with the match field, or items whose
    match is none of the keys asked for (a wrong id type, another record): then the keys without an item fail,
    each with an error naming the service and the key, never a silent null."""
    first = part.fetches[0]
    service, match = first.service, first.request.match
    found: Lookup = {}
    unusable = index_items(items, match, first.one_to_many, found)
    missing = []
    for key in part.keys:
        asked = key if key.__class__ is str else normalize(key)
        item = found.get(asked)  # an item or a bucket of items: never None
        if item is None:
            missing.append(asked)
        else:
            lookup[asked] = item
    if not missing:
        return
    if failed is None and unusable:
        failed = unusable_answer(service, unusable, len(items), match)
    if failed is not None:
        for k in missing:
            lookup.setdefault(k, failed)
        return
    wanted = {normalize(k) for k in part.keys}
    stray = [k for k in found if k not in wanted]
    if stray:
        for k in missing:
            message = (
                f"{service}: no item for key '{k}'; the answer has {len(stray)} item(s) whose '{match}' is no key"
                f" asked for (e.g. '{stray[0]}')"
            )
            lookup.setdefault(k, FieldError(message, ErrorCode.DOWNSTREAM_BAD_RESPONSE, service))


def unusable_answer(service: str, unusable: int, count: int, match: str) -> FieldError:
    message = (
        f"{service}: unexpected answer shape ({unusable} of {count} items are not objects with '{match}')"
    )
    return FieldError(message, DownstreamBadResponse.code, service)


def request_error(errors: Sequence[Any], service: str, items: Any = None) -> FieldError:
    """The error standing for a request that went wrong, from the downstream errors that say why."""
    for error in errors:
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return FieldError(error["message"], ErrorCode.DOWNSTREAM_ERROR, service)
        if isinstance(error, FieldError):
            return error
    if items is not None:
        return FieldError(f"{service}: unexpected answer shape", ErrorCode.DOWNSTREAM_BAD_RESPONSE, service)
    return FieldError(f"{service}: no data in the answer", ErrorCode.DOWNSTREAM_ERROR, service)
