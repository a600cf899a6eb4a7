"""JWT verification (PyJWT): the signature by a key from the configured source, the algorithm from an allowlist,
the issuer, the audience and the times (with a leeway for clock skew)."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import jwt

from .identity import Identity
from .keys import KeySource, KeysUnavailable

__all__ = ["InvalidCredentials", "JWTVerifier"]


class InvalidCredentials(Exception):
    """The credentials given prove nothing: the message says why, never what they were."""


class JWTVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        algorithms: Sequence[str],
        issuer: str | None = None,
        audience: str | None = None,
        leeway_s: float = 0.0,
        scopes_claim: str = "scope",
    ) -> None:
        self.keys = keys
        self.algorithms = list(algorithms)
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self.scopes_claim = scopes_claim

    def verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise InvalidCredentials("the token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise InvalidCredentials(
                f"the token's algorithm is not allowed (allowed: {', '.join(self.algorithms)})"
            )
        kid = header.get("kid")
        try:
            key = self.keys.key_for(kid if isinstance(kid, str) else None)
        except KeysUnavailable as error:
            raise InvalidCredentials(f"no key verifies the token: {error}") from None
        required = ["exp", "sub", *(["iss"] if self.issuer else []), *(["aud"] if self.audience else [])]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": required, "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidCredentials("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidCredentials("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidCredentials("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidCredentials("the token is from another issuer") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidCredentials(f"the token has no {error.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise InvalidCredentials("the token's signature does not verify") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise InvalidCredentials("the token is invalid") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidCredentials("the token's 'sub' claim is not a string")
        return Identity(subject, _scopes(claims.get(self.scopes_claim)), "jwt", MappingProxyType(claims))


def _scopes(value: Any) -> frozenset[str]:
    """OAuth's space-separated `scope` string, or a list of strings (`scp`, `permissions`)."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()
