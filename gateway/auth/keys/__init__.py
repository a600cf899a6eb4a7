"""Where the keys that verify a JWT's signature come from: one module per source."""

from .base import KeySource, KeysUnavailable
from .jwks_file import JWKSFile
from .jwks_url import JWKSURL
from .secret import SharedSecret

__all__ = ["JWKSURL", "JWKSFile", "KeySource", "KeysUnavailable", "SharedSecret"]
