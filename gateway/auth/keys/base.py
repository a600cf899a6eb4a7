"""The key source protocol, and reading a JWKS document into keys by id."""

from __future__ import annotations

from typing import Any, Protocol

import jwt
import orjson

__all__ = ["KeySource", "KeysUnavailable", "parse_jwks"]


class KeysUnavailable(Exception):
    """No key can verify the token (unknown key id, keys not fetched yet): the token is refused."""


class KeySource(Protocol):
    def key_for(self, kid: str | None) -> Any:
        """The key that verifies a token with this `kid`, or KeysUnavailable."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def parse_jwks(body: bytes, where: str) -> dict[str | None, Any]:
    """A JWKS document's signing keys by `kid` (a key without one under None); ValueError naming `where`."""
    try:
        document = orjson.loads(body)
        keys = jwt.PyJWKSet.from_dict(document).keys
    except (
        orjson.JSONDecodeError,
        jwt.PyJWKSetError,
        jwt.InvalidKeyError,
        TypeError,
        AttributeError,
    ) as error:
        raise ValueError(f"{where}: not a JWKS document ({type(error).__name__})") from None
    return {key.key_id: key.key for key in keys if getattr(key, "public_key_use", None) in (None, "sig")}
