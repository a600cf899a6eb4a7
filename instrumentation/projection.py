"""Shape the merged data into the response by a projection compiled once per query.

graphql-core's executor calls a resolver and builds a path object per field; for data that only passes through a
gateway that costs about ten times what copying it does. The planner compiles the client's selection into nested
*completers* — small closures, one per field position — that copy values from the merged data (read by canonical
downstream keys, written under the client's response keys), coerce leaves, resolve abstract types by
`__typename`, and follow the specification's rules for null propagation and errors exactly as graphql-core's
`execute` would over the same data: a differential test holds the two together.

A completer is called as `completer(value, path, errors)`; `path` is a linked tuple `(parent_path, key)` that is
only turned into a list when an error is reported. A failure that must propagate raises `_Failure`; the nearest
nullable position catches it, records the error and answers null.

Objects are most of the work (a hundred items of nine fields are a thousand positions), so an object's completer
is one function generated for its fields: each leaf of a built-in scalar is checked inline and copied without a
call, an object's null handling is folded into its own function instead of a wrapper, nested objects (three
levels deep) are written into their parent's function for the usual case of a dict, and a call is made only
for the other positions and for a value that needs the long way. The generated text holds nothing but fixed
names: keys, completers and constants are passed in by name, so objects of one shape (the same kinds of field
in the same order, whatever their names) share one text, compiled once.
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import CodeType
from typing import Any, Final, Literal

from graphql import (
    GraphQLBoolean,
    GraphQLError,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLString,
    Undefined,
)
from graphql.language import Source as GraphQLSource
from graphql.language import get_location
from graphql.pyutils import inspect

from .errors import FieldError

__all__ = [
    "Completer",
    "FieldInfo",
    "Projection",
    "abstract_completer",
    "guard",
    "leaf_completer",
    "list_completer",
    "non_null",
    "object_completer",
    "precompleted_completer",
    "project",
    "resolver_completer",
    "typename_completer",
]

Path = tuple[Any, str | int] | None
Completer = Callable[[Any, Path, list[dict[str, Any]]], Any]
ObjectField = tuple[
    str, str | None, Completer
]  # response key, source key (None: the parent itself), completer

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
# An ID given as a JSON integer is its decimal text; beyond 64 bits it goes the long way (graphql-core's
# coercion, which reports what Python cannot convert).
_ID_MIN, _ID_MAX = -(2**63), 2**64

# What object completers inline of the completers they are given, by completer (plan-time lookups only):
# the built-in scalar of a leaf (its check is inlined), the value of `__typename`, and how to build an object
# completer again with its null handling folded in.
_Nulls = Literal["plain", "nullable", "non_null"]
_SHAPES: Final = 512  # compiled object completers kept, by the text generated for them
_FAST_LEAVES: Final[weakref.WeakKeyDictionary[Completer, str]] = weakref.WeakKeyDictionary()  # scalar name
_CONSTANTS: Final[weakref.WeakKeyDictionary[Completer, str]] = weakref.WeakKeyDictionary()
_OBJECTS: Final[weakref.WeakKeyDictionary[Completer, Callable[[_Nulls, FieldInfo | None], Completer]]] = (
    weakref.WeakKeyDictionary()
)
# An object completer with its null handling folded in, by completer: its parent writes it inline.
_INLINABLE: Final[weakref.WeakKeyDictionary[Completer, tuple[_Nulls, tuple[ObjectField, ...]]]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """What an error at a field position says about the field: `Parent.field` and the client's locations."""

    parent_type: str
    field_name: str
    # Where the field's nodes start in the client's document. Line and column are worked out only when an
    # error needs them: doing it for every planned field would cost the document's size per field.
    positions: tuple[tuple[GraphQLSource, int], ...]

    @property
    def locations(self) -> tuple[tuple[int, int], ...]:
        located = (get_location(source, start) for source, start in self.positions)
        return tuple((location.line, location.column) for location in located)


@dataclass(frozen=True, slots=True)
class Projection:
    root: Completer


class _Failure(Exception):
    __slots__ = ("error",)

    def __init__(self, error: dict[str, Any]) -> None:
        self.error = error


def project(
    projection: Projection, data: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The response's `data` and `errors` for the merged data of one request."""
    errors: list[dict[str, Any]] = []
    try:
        result = projection.root(data, None, errors)
    except _Failure as failure:
        errors.append(failure.error)
        result = None
    return result, errors


def _path_list(path: Path) -> list[str | int]:
    keys: list[str | int] = []
    while path is not None:
        path, key = path
        keys.append(key)
    keys.reverse()
    return keys


def _error(
    message: str, path: Path, info: FieldInfo, extensions: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "locations": [{"line": line, "column": column} for line, column in info.locations],
        "path": _path_list(path),
    }
    if extensions:
        error["extensions"] = dict(extensions)
    return error


def _field_error(value: FieldError, path: Path, info: FieldInfo) -> _Failure:
    return _Failure(_error(value.message, path, info, value.extensions()))


def _null_error(path: Path, info: FieldInfo) -> _Failure:
    return _Failure(
        _error(f"Cannot return null for non-nullable field {info.parent_type}.{info.field_name}.", path, info)
    )


def guard(completer: Completer) -> Completer:
    """A nullable position: a failure below is recorded here and the value becomes null."""
    rebuild = _OBJECTS.get(completer)
    if rebuild is not None:
        return rebuild("nullable", None)

    def complete(value: Any, path: Path, errors: list[dict[str, Any]]) -> Any:
        try:
            return completer(value, path, errors)
        except _Failure as failure:
            errors.append(failure.error)
            return None

    return complete


def non_null(completer: Completer, info: FieldInfo) -> Completer:
    rebuild = _OBJECTS.get(completer)
    if rebuild is not None:
        return rebuild("non_null", info)

    def complete(value: Any, path: Path, errors: list[dict[str, Any]]) -> Any:
        result = completer(value, path, errors)
        if result is None:
            raise _null_error(path, info)
        return result

    return complete


def _fast_class(type_: GraphQLLeafType) -> type | None:
    """The Python class whose values a built-in scalar passes through unchanged (Int also checks its range)."""
    if type_ is GraphQLString or type_ is GraphQLID:
        return str
    if type_ is GraphQLInt:
        return int
    if type_ is GraphQLFloat:
        return float
    if type_ is GraphQLBoolean:
        return bool
    return None


def leaf_completer(type_: GraphQLLeafType, info: FieldInfo, *, nullable: bool) -> Completer:
    """A scalar or enum, with its own null handling folded in. Leaves are most positions: a value of the Python
    class a built-in scalar passes through unchanged is returned after one check, everything else goes the long
    way (null, error, coercion)."""
    slow = _leaf_slow_path(type_, info, nullable)
    fast = _fast_class(type_)
    if type_ is GraphQLID:

        def complete(value: Any, path: Path, errors: list[dict[str, Any]]) -> Any:
            if value.__class__ is str:
                return value
            if value.__class__ is int and _ID_MIN <= value < _ID_MAX:
                return str(value)
            return slow(value, path, errors)

    elif fast is str or fast is bool:

        def complete(value: Any, path: Path, errors: list[dict[str, Any]]) -> Any:
            return value if value.__class__ is fast else slow(value, path, errors)

    elif fast is int:

        def complete(value: Any, path: Path, errors: list[dict[str, Any]]) -> Any:
            if value.__class__ is int and _INT_MIN <= value <= _INT_MAX:
                return value
            return slow(value, path, errors)

    elif fast is float:

        def complete(value: Any, path: Path, errors: list[dict[str, Any]]) -> Any:
            if value.__class__ is float and math.isfinite(value):
                return value
            return slow(value, path, errors)

    else:
        return slow
    _FAST_LEAVES[complete] = "ID" if type_ is GraphQLID else type_.name
    return complete


def _leaf_slow_path(type_: GraphQLLeafType, info: FieldInfo, nullable: bool) -> Completer:
    coerce = type_.coerce_output_value

    def fail(failure: _Failure, errors: list[dict[str, Any]]) -> None:
        if not nullable:
            raise failure
        errors.append(failure.error)

    def complete(value: Any, path: Path, errors: list[dict[str, Any]]) -> Any:
        if value is None:
            if nullable:
                return None
            raise _null_error(path, info)
        if value.__class__ is FieldError:
            fail(_field_error(value, path, info), errors)
            return None
        try:
            result = coerce(value)
        except Exception as error:
            message = error.message if isinstance(error, GraphQLError) else str(error)
            fail(_Failure(_error(message, path, info)), errors)
            return None
        if result is None or result is Undefined:
            message = (
                f"Expected `{inspect(type_)}.coerce_output_value({inspect(value)})`"
                f" to return non-nullable value, returned: {inspect(result)}"
            )
            fail(_Failure(_error(message, path, info)), errors)
            return None
        return result

    return complete


def list_completer(item: Completer, info: FieldInfo) -> Completer:
    def complete(value: Any, path: Path, errors: list[dict[str, Any]]) -> Any:
        if value.__class__ is not list:
            if value is None:
                return None
            if value.__class__ is FieldError:
                raise _field_error(value, path, info)
            if not isinstance(value, tuple):
                raise _Failure(
                    _error(
                        f"Expected Iterable, but did not find one for field '{info.parent_type}.{info.field_name}'.",
                        path,
                        info,
                    )
                )
        return [item(v, (path, i), errors) for i, v in enumerate(value)]

    return complete


def _not_an_object(value: Any, path: Path, info: FieldInfo, type_name: str) -> _Failure:
    if value.__class__ is FieldError:
        return _field_error(value, path, info)
    return _Failure(_error(f"Expected value of type '{type_name}' but got: {inspect(value)}.", path, info))


def object_completer(type_name: str, fields: Sequence[ObjectField], info: FieldInfo | None) -> Completer:
    """An object: each selected field completed from its source key (or, for a local resolver, the object)."""
    fields = tuple(fields)

    def rebuild(nulls: _Nulls, null_info: FieldInfo | None) -> Completer:
        return _compiled_object(type_name, fields, info, nulls, null_info)

    completer = _compiled_object(type_name, fields, info, "plain", None)
    _OBJECTS[completer] = rebuild
    return completer


# The leaf checks inlined per built-in scalar (`{v}` is the field's value, `{call}` the leaf's own completer,
# which takes whatever fails them: null, errors, coercion).
_INLINE_CHECKS: Final = {
    "String": ("if {v}.__class__ is not _str:", "    {v} = {call}"),
    "Boolean": ("if {v}.__class__ is not _bool:", "    {v} = {call}"),
    "Int": ("if not ({v}.__class__ is _int and _INT_MIN <= {v} <= _INT_MAX):", "    {v} = {call}"),
    "Float": ("if not ({v}.__class__ is _float and _isfinite({v})):", "    {v} = {call}"),
    "ID": (
        "if {v}.__class__ is _str:",
        "    pass",
        "elif {v}.__class__ is _int and _ID_MIN <= {v} < _ID_MAX:",
        "    {v} = _str({v})",
        "else:",
        "    {v} = {call}",
    ),
}
_INLINE_DEPTH: Final = 3  # levels of nested objects written into their parent's completer

# A field's kind in an object's shape: "constant", "parent", a built-in scalar's name, "call", or a nested
# object written inline: ("object", its null handling, its own shape).
_Kind = str | tuple[str, "_Nulls", "_Shape"]
_Shape = tuple[_Kind, ...]


_NAMESPACE: Final = {
    "_str": str,
    "_bool": bool,
    "_int": int,
    "_float": float,
    "_isfinite": math.isfinite,
    "_INT_MIN": _INT_MIN,
    "_INT_MAX": _INT_MAX,
    "_ID_MIN": _ID_MIN,
    "_ID_MAX": _ID_MAX,
    "_dict": dict,
    "_Mapping": Mapping,
    "_Failure": _Failure,
    "_not_an_object": _not_an_object,
    "_null_error": _null_error,
}  # what every generated completer reads, beside its own fields' names


@functools.lru_cache(maxsize=_SHAPES)
def _code(shape: _Shape, nulls: _Nulls) -> CodeType:
    """The compiled text of an object completer of this shape. Field `{id}` (`2`, or `2_0` for the first
    field of the object inlined as field 2) reads `_s{id}`, answers under `_k{id}` and is completed by
    `_c{id}`; a constant is `v{id}` in the namespace. Compiling costs about 0.2 ms: objects of one shape
    share it."""
    lines, entries = _field_lines(shape, "", "value", "get", "path", "    ")
    on_null = "raise _null_error(path, _null_info)" if nulls == "non_null" else "return None"
    body = [
        "def complete(value, path, errors):",
        "    if value.__class__ is not _dict:",
        "        if value is None:",
        f"            {on_null}",
        "        if not isinstance(value, _Mapping):",
        "            raise _not_an_object(value, path, _info, _type_name)",
        "    get = value.get",
        *lines,
        f"    return {{{entries}}}",
    ]
    if nulls == "nullable":  # the whole body, the type check included, as guard() runs its completer
        body = [
            body[0],
            "    try:",
            *("    " + line for line in body[1:]),
            "    except _Failure as failure:",
            "        errors.append(failure.error)",
            "        return None",
        ]
    return compile("\n".join(body) + "\n", "<object completer>", "exec")


def _field_lines(
    shape: _Shape, prefix: str, obj: str, get: str, path: str, indent: str
) -> tuple[list[str], str]:
    """The statements completing each field of an object (`obj`, read with `get`, at `path`) into `v{id}`,
    and the entries of the dict made of them."""
    lines, entries = [], []
    for index, kind in enumerate(shape):
        field = f"{prefix}{index}"
        value, key, completer, source = f"v{field}", f"_k{field}", f"_c{field}", f"_s{field}"
        entries.append(f"{key}: {value}")
        if kind == "constant":
            continue
        if kind == "parent":
            lines.append(f"{indent}{value} = {completer}({obj}, ({path}, {key}), errors)")
        elif kind == "call":
            lines.append(f"{indent}{value} = {completer}({get}({source}), ({path}, {key}), errors)")
        elif isinstance(kind, tuple):
            # The usual case, a dict, inline; anything else (null, an error, not an object) through the
            # object's own completer, which has the same null handling.
            _, nulls, inner = kind
            at, inner_get = f"({path}, {key})", f"g{field}"
            body = indent + ("        " if nulls == "nullable" else "    ")
            inner_lines, inner_entries = _field_lines(inner, f"{field}_", value, inner_get, at, body)
            block = [f"{body}{inner_get} = {value}.get", *inner_lines, f"{body}{value} = {{{inner_entries}}}"]
            if nulls == "nullable":
                block = [
                    f"{indent}    try:",
                    *block,
                    f"{indent}    except _Failure as failure:",
                    f"{indent}        errors.append(failure.error)",
                    f"{indent}        {value} = None",
                ]
            lines += [
                f"{indent}{value} = {get}({source})",
                f"{indent}if {value}.__class__ is _dict:",
                *block,
                f"{indent}else:",
                f"{indent}    {value} = {completer}({value}, {at}, errors)",
            ]
        else:
            call = f"{completer}({value}, ({path}, {key}), errors)"
            lines.append(f"{indent}{value} = {get}({source})")
            lines += (indent + line.format(v=value, call=call) for line in _INLINE_CHECKS[kind])
    return lines, ", ".join(entries)


def _shape(fields: tuple[ObjectField, ...], prefix: str, namespace: dict[str, Any], depth: int) -> _Shape:
    """The shape of an object with these fields; their completers, keys and sources go into `namespace`."""
    shape: list[_Kind] = []
    for index, (key, source, completer) in enumerate(fields):
        field = f"{prefix}{index}"
        namespace.update({f"_c{field}": completer, f"_k{field}": key, f"_s{field}": source})
        constant = _CONSTANTS.get(completer)
        inline = _INLINABLE.get(completer) if depth < _INLINE_DEPTH else None
        if constant is not None:
            namespace[f"v{field}"] = constant
            shape.append("constant")
        elif source is None:
            shape.append("parent")
        elif inline is not None:
            nulls, inner = inline
            shape.append(("object", nulls, _shape(inner, f"{field}_", namespace, depth + 1)))
        else:
            shape.append(_FAST_LEAVES.get(completer, "call"))
    return tuple(shape)


def _compiled_object(
    type_name: str,
    fields: tuple[ObjectField, ...],
    info: FieldInfo | None,
    nulls: _Nulls,
    null_info: FieldInfo | None,
) -> Completer:
    """The generated completer of an object with these fields; `nulls` says what a null or a failure below
    becomes: null ("plain"), null with the failure recorded ("nullable", a guard folded in) or the null error
    of `null_info`'s field ("non_null", non_null folded in)."""
    namespace: dict[str, Any] = {
        **_NAMESPACE,
        "_info": info,
        "_null_info": null_info,
        "_type_name": type_name,
    }
    exec(_code(_shape(fields, "", namespace, 0), nulls), namespace)
    compiled: Completer = namespace["complete"]
    if nulls != "plain":
        _INLINABLE[compiled] = (nulls, fields)
    return compiled


def abstract_completer(
    abstract_name: str,
    by_type: Mapping[str, Completer],
    known_types: frozenset[str],
    info: FieldInfo,
    other_types: frozenset[str] = frozenset(),
) -> Completer:
    """An interface or union: the object's `__typename` picks the completer of its concrete type.

    `known_types` are the schema's object types, `other_types` its other named types: a `__typename` naming
    one of those is reported in graphql-core's words for a non-object type."""

    def complete(value: Any, path: Path, errors: list[dict[str, Any]]) -> Any:
        if value is None:
            return None
        if isinstance(value, Mapping):
            type_name = value.get("__typename")
        elif value.__class__ is FieldError:
            raise _field_error(value, path, info)
        else:  # not an object: no runtime type, as graphql-core's type resolver finds none for it
            type_name = None
        completer = by_type.get(type_name) if isinstance(type_name, str) else None
        if completer is None:
            message = _type_resolution_message(
                abstract_name, value, type_name, known_types, other_types, info
            )
            raise _Failure(_error(message, path, info))
        return completer(value, path, errors)

    return complete


def _type_resolution_message(
    abstract_name: str,
    value: Any,
    type_name: Any,
    known_types: frozenset[str],
    other_types: frozenset[str],
    info: FieldInfo,
) -> str:
    # The same words as graphql-core's `ensure_valid_runtime_type`, so both executors agree on bad data.
    if type_name is None:
        return (
            f"Abstract type '{abstract_name}' must resolve to an Object type at runtime"
            f" for field '{info.parent_type}.{info.field_name}'."
            f" Either the '{abstract_name}' type should provide a 'resolve_type' function"
            " or each possible type should provide an 'is_type_of' function."
        )
    if not isinstance(type_name, str):
        return (
            f"Abstract type '{abstract_name}' must resolve to an Object type at runtime"
            f" for field '{info.parent_type}.{info.field_name}' with value {inspect(value)},"
            f" received '{inspect(type_name)}', which is not a valid Object type name."
        )
    if type_name in other_types:
        return f"Abstract type '{abstract_name}' was resolved to a non-object type '{type_name}'."
    if type_name not in known_types:
        return (
            f"Abstract type '{abstract_name}' was resolved to a type '{type_name}'"
            " that does not exist inside the schema."
        )
    return f"Runtime Object type '{type_name}' is not a possible type for '{abstract_name}'."


def typename_completer(type_name: str) -> Completer:
    def complete(value: Any, path: Path, errors: list[dict[str, Any]]) -> Any:
        return type_name

    _CONSTANTS[complete] = type_name
    return complete


def resolver_completer(
    function: Callable[[Mapping[str, Any]], Any], value: Completer, info: FieldInfo
) -> Completer:
    """A field computed in the gateway from its parent (which this completer receives instead of a value)."""

    def complete(parent: Any, path: Path, errors: list[dict[str, Any]]) -> Any:
        try:
            result = function(parent)
        except Exception as error:
            raise _Failure(_error(str(error), path, info)) from None
        return value(result, path, errors)

    return complete


def precompleted_completer() -> Completer:
    """A value already shaped for the response (introspection answered by graphql-core)."""

    def complete(value: Any, path: Path, errors: list[dict[str, Any]]) -> Any:
        return value

    return complete
