"""An OpenAPI 3 document read for a REST service: its GET operations and the GraphQL types of their JSON answers.

The document is hostile input: it is read up to `MAX_DOCUMENT_BYTES`, refused when nested deeper than
`MAX_DEPTH` or larger than `MAX_NODES` values, YAML aliases are refused (they make a small file a huge tree), and
only local `$ref`s (`#/components/...`) are followed, each chain at most `MAX_REF_CHAIN` long.

Types: every named schema (`#/components/schemas/Name`) an operation's JSON answer reaches becomes an object
type of that name; string, integer, number and boolean become String, Int, Float and Boolean, a property named
`id` becomes ID; a property is non-null when it is `required` and not `nullable`. What cannot be typed (`oneOf`,
`anyOf`, a property name that is not a GraphQL name) is left out and said in `notes`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
import yaml

from registry.errors import ConfigError, Problem

from ..fetching import MAX_DOCUMENT_BYTES, TIMEOUT_S, FetchError, fetch_bytes

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_REF_CHAIN",
    "OpenAPIDocument",
    "Operation",
    "Parameter",
    "parse_openapi",
    "read_openapi",
]

MAX_DEPTH: Final = 64
MAX_NODES: Final = 1_000_000
MAX_REF_CHAIN: Final = 32
_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_SCALARS: Final[Mapping[str, str]] = {
    "string": "String",
    "integer": "Int",
    "number": "Float",
    "boolean": "Boolean",
}
_NAME: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
_PLACEHOLDER: Final = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str  # query, path, header or cookie
    required: bool
    is_list: bool  # an array: Funnel sends it as one comma-separated value
    exploded: bool  # `ids=1&ids=2` rather than `ids=1,2` (OpenAPI's default for query arrays)


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: str | None
    method: str  # GET, POST, ...
    path: str  # the template, e.g. /accounts/{id}
    parameters: tuple[Parameter, ...]
    response: Any  # the JSON schema of the first 2xx JSON answer, `$ref`s resolved at its top; None if none

    def parameter(self, name: str, location: str = "query") -> Parameter | None:
        return next((p for p in self.parameters if p.name == name and p.location == location), None)

    @property
    def title(self) -> str:
        return f"{self.method} {self.path}" + (f" ({self.operation_id})" if self.operation_id else "")


@dataclass(frozen=True)
class OpenAPIDocument:
    source: str  # the file or URL, for messages
    document: Mapping[str, Any]
    operations: tuple[Operation, ...]

    def operation(self, operation_id: str) -> Operation | None:
        return next((o for o in self.operations if o.operation_id == operation_id), None)

    def at(self, path: str, method: str = "GET") -> Operation | None:
        """The operation whose path template is `path`, placeholders matching whatever their names."""
        shape = _PLACEHOLDER.sub("{}", path)
        return next(
            (o for o in self.operations if o.method == method and _PLACEHOLDER.sub("{}", o.path) == shape),
            None,
        )

    def resolve(self, schema: Any) -> Any:
        """`schema` with its `$ref` chain followed (local references only)."""
        for _ in range(MAX_REF_CHAIN):
            if not (isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str)):
                return schema
            schema = self._pointer(schema["$ref"])
        raise ConfigError([Problem(f"a $ref chain is longer than {MAX_REF_CHAIN}", self.source)])

    def ref_name(self, schema: Any) -> str | None:
        """The component name a schema refers to (`#/components/schemas/Account` -> Account), if it does."""
        ref = schema.get("$ref") if isinstance(schema, Mapping) else None
        prefix = "#/components/schemas/"
        return ref[len(prefix) :] if isinstance(ref, str) and ref.startswith(prefix) else None

    def type_sdl(self) -> tuple[str, list[Problem]]:
        """GraphQL SDL for the object types that the GET operations' JSON answers reach, and what is left out."""
        writer = _TypeWriter(self)
        for operation in self.operations:
            if operation.method == "GET" and operation.response is not None:
                writer.output_type(
                    operation.response, _pascal(operation.operation_id or "Response") + "Result"
                )
        return writer.sdl(), writer.notes

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ConfigError(
                [Problem(f"$ref {ref!r}: only references inside the document (#/...) are read", self.source)]
            )
        node: Any = self.document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError([Problem(f"$ref {ref!r} points at nothing", self.source)])
            node = node[part]
        return node


async def read_openapi(location: str, *, timeout: float = TIMEOUT_S) -> OpenAPIDocument:
    """The document at `location`, an http(s) URL or a file; raise ConfigError naming it."""
    if location.startswith(("http://", "https://")):
        try:
            data = await fetch_bytes(
                location, timeout=timeout, headers={"accept": "application/json, application/yaml"}
            )
        except FetchError as error:
            raise ConfigError([Problem(f"cannot read the OpenAPI document: {error}", location)]) from None
    else:
        data = _read_file(location)
    return parse_openapi(data, location)


def _read_file(path: str) -> bytes:
    try:
        if os.path.getsize(path) > MAX_DOCUMENT_BYTES:
            raise ConfigError(
                [Problem(f"the OpenAPI document is larger than {MAX_DOCUMENT_BYTES} bytes", path)]
            )
        with open(path, "rb") as file:
            return file.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as error:
        raise ConfigError([Problem(f"cannot read the OpenAPI document: {error.strerror}", path)]) from None


def parse_openapi(data: bytes, source: str) -> OpenAPIDocument:
    """Check and read an OpenAPI 3 document (JSON or YAML); raise ConfigError naming `source`."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ConfigError(
            [Problem(f"the OpenAPI document is larger than {MAX_DOCUMENT_BYTES} bytes", source)]
        )
    document = _load(data, source)
    _check_size(document, source)
    version = document.get("openapi") if isinstance(document, dict) else None
    if not (isinstance(version, str) and version.startswith("3.")):
        raise ConfigError([Problem("not an OpenAPI 3 document (it needs `openapi: 3.x`)", source)])
    # The operations are read through the document's own $ref resolution, before they are part of it.
    return OpenAPIDocument(source, document, tuple(_operations(OpenAPIDocument(source, document, ()))))


def _load(data: bytes, source: str) -> Any:
    text = data.lstrip()
    if text.startswith(b"{"):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise ConfigError([Problem(f"invalid JSON: {error}", source)]) from None
    try:
        return yaml.load(data, Loader=_NoAliasLoader)  # a SafeLoader that refuses aliases
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        what = getattr(error, "problem", None) or "not YAML"
        raise ConfigError(
            [Problem(f"invalid YAML: {what}", source, mark.line + 1 if mark else None)]
        ) from None


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not allowed here", mark)
        return super().compose_node(parent, index)


def _check_size(document: Any, source: str) -> None:
    stack: list[tuple[Any, int]] = [(document, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH or count > MAX_NODES:
            limit = (
                f"nested deeper than {MAX_DEPTH}" if depth > MAX_DEPTH else f"more than {MAX_NODES} values"
            )
            raise ConfigError([Problem(f"the OpenAPI document is {limit}", source)])
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _operations(document: OpenAPIDocument) -> Iterator[Operation]:
    paths = document.document.get("paths") or {}
    if not isinstance(paths, Mapping):
        raise ConfigError([Problem("`paths` must be a mapping", document.source)])
    for path, item in paths.items():
        item = document.resolve(item)
        if not isinstance(path, str) or not isinstance(item, Mapping):
            continue
        shared = _parameters(document, item.get("parameters"))
        for method in _METHODS:
            operation = document.resolve(item.get(method))
            if not isinstance(operation, Mapping):
                continue
            own = _parameters(document, operation.get("parameters"))
            names = {(p.name, p.location) for p in own}
            parameters = (*own, *(p for p in shared if (p.name, p.location) not in names))
            operation_id = operation.get("operationId")
            yield Operation(
                operation_id if isinstance(operation_id, str) else None,
                method.upper(),
                path,
                parameters,
                _json_response(document, operation.get("responses")),
            )


def _parameters(document: OpenAPIDocument, raw: Any) -> list[Parameter]:
    parameters = []
    for entry in raw if isinstance(raw, list) else ():
        entry = document.resolve(entry)
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            continue
        location = entry.get("in", "query")
        schema = document.resolve(entry.get("schema")) or {}
        is_list = isinstance(schema, Mapping) and "array" in _types(schema)
        exploded = entry.get("explode", entry.get("style", "form") == "form")
        parameters.append(
            Parameter(
                entry["name"],
                location,
                bool(entry.get("required", location == "path")),
                is_list,
                bool(exploded),
            )
        )
    return parameters


def _json_response(document: OpenAPIDocument, responses: Any) -> Any:
    if not isinstance(responses, Mapping):
        return None
    for status in sorted(str(s) for s in responses):
        if not (status.startswith("2") and len(status) == 3):
            continue
        response = document.resolve(
            responses.get(status) if status in responses else responses.get(int(status))
        )
        content = response.get("content") if isinstance(response, Mapping) else None
        for media, body in (content or {}).items():
            if isinstance(media, str) and (media == "application/json" or media.endswith("+json")):
                return body.get("schema") if isinstance(body, Mapping) else None
    return None


def _types(schema: Mapping[str, Any]) -> set[str]:
    kind = schema.get("type")
    if isinstance(kind, list):  # OpenAPI 3.1: type: [string, "null"]
        return {k for k in kind if isinstance(k, str)}
    if isinstance(kind, str):
        return {kind}
    return {"object"} if "properties" in schema or "allOf" in schema else set()


def _nullable(schema: Any) -> bool:
    return isinstance(schema, Mapping) and (schema.get("nullable") is True or "null" in _types(schema))


def _pascal(text: str) -> str:
    words = re.split(r"[^0-9A-Za-z]+", text)
    name = "".join(w[:1].upper() + w[1:] for w in words if w)
    return name if _NAME.fullmatch(name) else f"T{name}"


class _TypeWriter:
    """Writes one GraphQL object type per object schema, named after its component (or where it stands)."""

    def __init__(self, document: OpenAPIDocument) -> None:
        self.document = document
        self.types: dict[str, list[str]] = {}
        self.notes: list[Problem] = []

    def sdl(self) -> str:
        return "\n\n".join(
            f"type {name} {{\n" + "\n".join(lines) + "\n}" for name, lines in self.types.items()
        )

    def output_type(self, schema: Any, hint: str) -> str | None:
        """The GraphQL type (without the outer `!`) of values of `schema`; None when it has none."""
        name = self.document.ref_name(schema)
        resolved = self.document.resolve(schema)
        if not isinstance(resolved, Mapping):
            return None
        kinds = _types(resolved) - {"null"}
        if "array" in kinds:
            items = resolved.get("items")
            inner = self.output_type(items, hint)
            return (
                None
                if inner is None
                else f"[{inner}{'' if _nullable(self.document.resolve(items)) else '!'}]"
            )
        if "object" in kinds:
            return self._object(resolved, _pascal(name) if name is not None else hint)
        if len(kinds) == 1 and (scalar := _SCALARS.get(next(iter(kinds)))) is not None:
            return scalar
        return None

    def _object(self, schema: Mapping[str, Any], name: str) -> str | None:
        if name in self.types:
            return name
        self.types[name] = lines = []  # before the properties: a schema may refer to itself
        properties: dict[str, Any] = {}
        required: set[str] = set()
        for part in [schema, *(self.document.resolve(p) for p in schema.get("allOf") or ())]:
            if isinstance(part, Mapping):
                properties.update(part.get("properties") or {})
                required.update(r for r in part.get("required") or () if isinstance(r, str))
        for key, value in properties.items():
            type_ = self.output_type(value, name + _pascal(str(key))) if _NAME.fullmatch(str(key)) else None
            if type_ is None:
                why = (
                    "is not a GraphQL name"
                    if not _NAME.fullmatch(str(key))
                    else "has no GraphQL type (oneOf, anyOf or no type)"
                )
                self.notes.append(
                    Problem(f"{name}.{key} is left out: the property {why}", self.document.source)
                )
                continue
            if key == "id" and type_ in _SCALARS.values():
                type_ = "ID"
            non_null = key in required and not _nullable(self.document.resolve(value))
            lines.append(f"  {key}: {type_}{'!' if non_null else ''}")
        if not lines:
            del self.types[name]
            self.notes.append(
                Problem(f"{name} is left out: it has no property with a GraphQL type", self.document.source)
            )
            return None
        return name
