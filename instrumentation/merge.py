"""The per-key hot path: find parents, read their keys, index what a service returned, give each parent its value.

Plain synchronous Python over dicts and lists: no awaits and no per-field calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .errors import ErrorCode, FieldError
from .plan import BatchFetch, PathStep

__all__ = [
    "Lookup",
    "Pending",
    "assign",
    "index_items",
    "normalize",
    "parents_of",
    "pending_keys",
    "place_errors",
    "read_key",
]

Pending = list[tuple[dict[str, Any], Any]]  # (parent, key) pairs of one batch fetch
Lookup = dict[str, Any]  # normalized key → item, list of items (one-to-many) or FieldError


def normalize(key: Any) -> str:
    """Keys are compared as text: a GraphQL ID "5" and a REST integer 5 are the same key."""
    if key.__class__ is str:
        return key
    if key.__class__ is int:
        return str(key)
    return repr(key)


def parents_of(root: Mapping[str, Any], steps: Sequence[PathStep]) -> list[dict[str, Any]]:
    """Every object at the end of a path through the merged data, lists flattened, nulls and errors skipped."""
    objects: list[dict[str, Any]] = [root]  # type: ignore[list-item]
    for step in steps:
        key, condition = step.key, step.type_condition
        found: list[dict[str, Any]] = []
        for obj in objects:
            value = obj.get(key)
            if value.__class__ is dict:
                if condition is None or value.get("__typename") == condition:
                    found.append(value)
            elif value.__class__ is list:
                _flatten(value, found, condition)
        objects = found
    return objects


def _flatten(values: list[Any], into: list[dict[str, Any]], condition: str | None) -> None:
    for value in values:
        if value.__class__ is dict:
            if condition is None or value.get("__typename") == condition:
                into.append(value)
        elif value.__class__ is list:
            _flatten(value, into, condition)


def read_key(parent: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = parent
    for name in path:
        if value.__class__ is not dict:
            return None
        value = value.get(name)
    return value


def pending_keys(
    fetch: BatchFetch, root: Mapping[str, Any], functions: Mapping[Any, Callable[..., Any]]
) -> Pending:
    """(parent, key) for every distinct parent object on the fetch's paths whose key is not null.

    `functions` is the gateway's function table: the key function of a field, by its coordinate."""
    pending: Pending = []
    seen: set[int] = set()
    key_function = None if fetch.key_function is None else functions[fetch.key_function]
    for path in fetch.paths:
        parents = parents_of(root, path.steps)
        if len(path.key) == 1:  # most keys are one field of the parent: the same loop, without the branches
            _single_keys(parents, path.key[0], seen, pending)
            continue
        for parent in parents:
            if id(parent) in seen:
                continue
            seen.add(id(parent))
            if key_function is not None:
                try:
                    key = key_function(parent)
                except Exception as error:
                    parent[fetch.storage] = FieldError(
                        f"key of {fetch.coordinate}: {error}", ErrorCode.KEY_ERROR
                    )
                    continue
            elif path.key:
                key = read_key(parent, path.key)
            else:
                key = parent  # an in-process loader receives the parent itself
            if key is None or key.__class__ is FieldError:
                continue
            pending.append((parent, key))
    return pending


def _single_keys(parents: list[dict[str, Any]], name: str, seen: set[int], pending: Pending) -> None:
    add, append = seen.add, pending.append
    for parent in parents:
        if id(parent) in seen:
            continue
        add(id(parent))
        key = parent.get(name)
        if key is not None and key.__class__ is not FieldError:
            append((parent, key))


def index_items(items: Iterable[Any], match: str, one_to_many: bool, into: Lookup) -> int:
    """Index returned items by their `match` field (order-independent).

    Returns how many items could not be indexed: neither an object with that field, nor null, nor an error
    already placed there. A service answering with such garbage is not saying that its keys do not exist."""
    unusable = 0
    for item in items:
        if item.__class__ is dict:
            key = item.get(match)
            if key is None:
                unusable += 1
                continue
            if key.__class__ is not str:
                key = normalize(key)
            if one_to_many:
                bucket = into.setdefault(key, [])
                if bucket.__class__ is list:
                    bucket.append(item)
            else:
                into.setdefault(key, item)
        elif item is not None and item.__class__ is not FieldError:
            unusable += 1
    return unusable


def assign(fetch: BatchFetch, pending: Pending, lookup: Lookup) -> None:
    """Give every parent its value: the matched item, all matches (one-to-many) or the items of a list key."""
    storage, select, one_to_many = fetch.storage, fetch.select, fetch.one_to_many
    missing: Any = [] if one_to_many else None
    get = lookup.get
    for parent, key in pending:
        if key.__class__ is str:  # the common case: a text key is its own normal form
            item = get(key, missing)
        elif key.__class__ is list:
            parent[storage] = [_selected(_one(get(normalize(k)), one_to_many), select) for k in key]
            continue
        else:
            item = get(normalize(key), missing)
        parent[storage] = item if select is None or item.__class__ is not dict else item.get(select)


def _one(found: Any, one_to_many: bool) -> Any:
    """Each key of a list key stands for one item, even where a list field indexed items in buckets."""
    if one_to_many and found.__class__ is list:
        return found[0] if found else None
    return found


def _selected(item: Any, select: str | None) -> Any:
    if select is None or item.__class__ is not dict:
        return item
    return item.get(select)


def place_errors(data: Any, errors: Iterable[Any], service: str) -> list[Any]:
    """Put each downstream GraphQL error into the data at its path, as a FieldError where the value was.

    Returns the errors that have no usable path (they concern the whole request or an unmatched item)."""
    unplaced: list[Any] = []
    for error in errors:
        path = error.get("path") if isinstance(error, dict) else None
        message = _message(error)
        if (
            not isinstance(path, list)
            or not path
            or not _place(data, path, FieldError(message, ErrorCode.DOWNSTREAM_ERROR, service))
        ):
            unplaced.append(error)
    return unplaced


def _message(error: Any) -> str:
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return "downstream error without a message"


def _place(data: Any, path: list[Any], error: FieldError) -> bool:
    """Walk to the deepest existing position on the path and put the error there (downstream non-null
    propagation may have nulled the value above the field that failed)."""
    node = data
    for index, step in enumerate(path):
        if node.__class__ is dict and isinstance(step, str):
            value = node.get(step)
        elif node.__class__ is list and isinstance(step, int) and 0 <= step < len(node):
            value = node[step]
        else:
            return False
        if index == len(path) - 1 or value.__class__ not in (dict, list):
            node[step] = error
            return True
        node = value
    return False
