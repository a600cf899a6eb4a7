"""The parameters of a GraphQL-over-HTTP request (`query`, `operationName`, `variables`, `extensions`), read
from a JSON body or from URL parameters, with a clear message for each way they can be wrong."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["BadParams", "GraphQLParams", "from_json_body", "from_url"]


class BadParams(Exception):
    """The request cannot be read as a GraphQL request; the message says why (HTTP 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    # Empty when the request names a persisted query instead (`extensions.persistedQuery` or `documentId`):
    # gateway.persisted fills it in before anything reads it.
    query: str
    operation_name: str | None = None
    variables: dict[str, Any] | None = None
    extensions: dict[str, Any] | None = None
    document_id: str | None = None


def from_json_body(body: bytes) -> GraphQLParams:
    """The parameters of a POST body (`application/json`)."""
    if not body.strip():
        raise BadParams('The body is empty: send a JSON object like {"query": "{ __typename }"}.')
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadParams(f"The body is not valid JSON (line {error.lineno}, column {error.colno}).") from None
    if not isinstance(value, dict):
        raise BadParams(f'The body must be a JSON object like {{"query": "..."}}, got {_json_type(value)}.')
    return _params(value)


def from_url(parameters: Mapping[str, str]) -> GraphQLParams:
    """The parameters of a GET request: `variables` and `extensions` are JSON text in the URL."""
    values: dict[str, Any] = {
        "query": parameters.get("query"),
        "operationName": parameters.get("operationName"),
        "documentId": parameters.get("documentId"),
    }
    for name in ("variables", "extensions"):
        text = parameters.get(name)
        if text is None or text == "":
            continue
        try:
            values[name] = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            message = f'"{name}" is not valid JSON (line {error.lineno}, column {error.colno}).'
            raise BadParams(message) from None
    return _params(values)


def _params(values: Mapping[str, Any]) -> GraphQLParams:
    query = values.get("query")
    extensions = _object(values, "extensions")
    document_id = _string(values, "documentId")
    if query is None and document_id is None and "persistedQuery" not in (extensions or {}):
        raise BadParams('The request has no "query": send the GraphQL document in "query".')
    if query is not None and not isinstance(query, str):
        raise BadParams(f'"query" must be a string, got {_json_type(query)}.')
    operation_name = _string(values, "operationName")
    return GraphQLParams(query or "", operation_name, _object(values, "variables"), extensions, document_id)


def _string(values: Mapping[str, Any], name: str) -> str | None:
    value = values.get(name)
    if value is not None and not isinstance(value, str):
        raise BadParams(f'"{name}" must be a string or null, got {_json_type(value)}.')
    return value


def _object(values: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = values.get(name)
    if value is not None and not isinstance(value, dict):
        raise BadParams(f'"{name}" must be an object or null, got {_json_type(value)}.')
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
