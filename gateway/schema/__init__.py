"""The gateway schema: SDL with its annotations compiled to bindings, and documents parsed and validated once."""

from .annotations import DIRECTIVES_SDL, load_schema, validate_bindings
from .documents import DocumentCache, LRUCache, PreparedDocument

__all__ = [
    "DIRECTIVES_SDL",
    "DocumentCache",
    "LRUCache",
    "PreparedDocument",
    "load_schema",
    "validate_bindings",
]
