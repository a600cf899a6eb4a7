"""Authentication (JWT, API keys) and authorization (`@authenticated`, `@requiresScopes`) at the edge."""

from .api_keys import APIKey, APIKeys
from .authenticator import Authenticator, AuthFailure
from .filtering import Access, Restricted
from .identity import ANONYMOUS, Identity
from .jwt_verifier import InvalidCredentials, JWTVerifier
from .policy import AccessPolicy, Requirement, decide

__all__ = [
    "ANONYMOUS",
    "APIKey",
    "APIKeys",
    "Access",
    "AccessPolicy",
    "AuthFailure",
    "Authenticator",
    "Identity",
    "InvalidCredentials",
    "JWTVerifier",
    "Requirement",
    "Restricted",
    "decide",
]
