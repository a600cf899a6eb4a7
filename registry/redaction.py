"""URLs as they may be shown: in a log line, an error message, `/ready` or a metric label.

A service's or Redis's URL may carry a credential (`https://user:token@host/graphql`, `redis://:password@host`,
`?api_key=...`): what is shown keeps the scheme, host, port and path, and replaces the user information and the
query with `***`.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit, urlunsplit

__all__ = ["HIDDEN", "redact_url"]

HIDDEN: Final = "***"


def redact_url(url: str) -> str:
    """`url` without its credentials (user information, query); unchanged when it carries none."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:  # not a URL we can take apart: show nothing of it rather than a secret
        return HIDDEN
    if "@" not in parts.netloc and not parts.query:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        shown_host = f"[{host}]" if host and ":" in host else (host or "")
        netloc = f"{HIDDEN}@{shown_host}" + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, HIDDEN if parts.query else "", parts.fragment))
