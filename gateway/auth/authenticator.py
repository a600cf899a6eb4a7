"""Authentication at the edge: the request's credentials (a bearer JWT, an API key) to an Identity.

A credential that is given must be valid: a bad token is refused (401), never read as anonymous. Without
credentials the caller is anonymous, which `auth.required` refuses. Messages say what was wrong with the
credential, never what it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .api_keys import APIKeys
from .identity import ANONYMOUS, Identity
from .jwt_verifier import InvalidCredentials, JWTVerifier
from .keys import KeySource

__all__ = ["AuthFailure", "Authenticator"]

_BEARER: Final = "bearer "
_MAX_CREDENTIAL_CHARS: Final = 8192


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """Why a request is refused (401), and the WWW-Authenticate challenge that says how to authenticate."""

    message: str
    challenge: str
    missing: bool = False  # no credentials at all (rather than bad ones)


class Authenticator:
    def __init__(
        self,
        *,
        jwt: JWTVerifier | None = None,
        api_keys: APIKeys | None = None,
        api_key_header: str = "x-api-key",
        required: bool = False,
        realm: str = "funnel",
    ) -> None:
        self.jwt = jwt
        self.api_keys = api_keys
        self.api_key_header = api_key_header
        self.required = required
        self.realm = realm

    @property
    def keys(self) -> KeySource | None:
        return self.jwt.keys if self.jwt is not None else None

    def identify(self, headers: Mapping[str, str]) -> Identity | AuthFailure:
        if self.jwt is not None:
            authorization = headers.get("authorization", "")
            if authorization[: len(_BEARER)].lower() == _BEARER:
                token = authorization[len(_BEARER) :].strip()
                try:
                    if len(token) > _MAX_CREDENTIAL_CHARS:
                        raise InvalidCredentials(
                            f"the token is longer than {_MAX_CREDENTIAL_CHARS} characters"
                        )
                    return self.jwt.verify(token)
                except InvalidCredentials as error:
                    return self._invalid(f"Invalid bearer token: {error}.")
        if self.api_keys is not None and self.api_key_header in headers:
            identity = self.api_keys.identify(headers[self.api_key_header][:_MAX_CREDENTIAL_CHARS])
            if identity is None:
                return self._invalid(f"Invalid API key in {self.api_key_header}.")
            return identity
        if self.required:
            return AuthFailure("Authentication required.", self._challenge(), missing=True)
        return ANONYMOUS

    def _invalid(self, message: str) -> AuthFailure:
        return AuthFailure(message, self._challenge('error="invalid_token"'))

    def _challenge(self, *parameters: str) -> str:
        scheme = "Bearer" if self.jwt is not None else "ApiKey"
        extra = f', header="{self.api_key_header}"' if self.jwt is None else ""
        return ", ".join((f'{scheme} realm="{self.realm}"{extra}', *parameters))
