"""How a cached value is written: JSON through orjson (a dependency of Funnel), bounded in size; and the mark of a
key that the service said does not exist (a negative entry), which no JSON text can be."""

from __future__ import annotations

from typing import Any, Final

import orjson

__all__ = ["ABSENT", "decode", "encode"]

ABSENT: Final = b"\x00"


def encode(value: Any, max_bytes: int) -> bytes | None:
    """The value's bytes, or None when it cannot be cached: not JSON, or larger than `max_bytes`."""
    try:
        data = orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return None
    return data if len(data) <= max_bytes else None


def decode(data: bytes) -> Any:
    """The value; raises ValueError for bytes that are not a value this module wrote (a Redis shared with
    something else): the caller treats that as a miss."""
    return orjson.loads(data)
