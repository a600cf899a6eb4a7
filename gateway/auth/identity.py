"""Who is asking: the identity a request's credentials prove, or the anonymous caller."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

__all__ = ["ANONYMOUS", "Identity", "Method"]

Method = Literal["jwt", "api_key"]


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str | None  # None: anonymous
    scopes: frozenset[str] = frozenset()
    method: Method | None = None
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def authenticated(self) -> bool:
        return self.subject is not None


ANONYMOUS: Final = Identity(None)
