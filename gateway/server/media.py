"""Content negotiation: which of the media types Funnel can answer with does a request's `Accept` prefer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

__all__ = ["GRAPHQL_RESPONSE", "HTML", "JSON", "negotiate"]

GRAPHQL_RESPONSE: Final = "application/graphql-response+json"
JSON: Final = "application/json"
HTML: Final = "text/html"

_EXACT: Final = 2  # how specifically a range names a type: `text/html` 2, `text/*` 1, `*/*` 0


def negotiate(accept: str | None, offered: Sequence[str], default: str) -> str | None:
    """The type of `offered` that `accept` prefers, or None when it accepts none of them.

    Ties between types the client names outright go to the one first in `offered`; ties between types it
    accepts only through a wildcard (`*/*`, curl's default) and a missing header go to `default`, as legacy
    clients expect."""
    if accept is None or not accept.strip():
        return default
    ranges = _ranges(accept)
    quality = {media: _quality(ranges, media) for media in offered}

    def rank(media: str) -> tuple[float, int, int]:
        q, specificity = quality[media]
        tiebreak = -offered.index(media) if specificity == _EXACT else int(media == default)
        return q, specificity, tiebreak

    best = max(offered, key=rank)
    return best if quality[best][0] > 0 else None


def _ranges(accept: str) -> list[tuple[str, float]]:
    """The media ranges of `accept` with their q, read once; a range with a malformed q is left out."""
    ranges = []
    for item in accept.split(","):
        range_, *parameters = (part.strip() for part in item.split(";"))
        q = _q(parameters)
        if q is not None:
            ranges.append((range_.lower(), q))
    return ranges


def _quality(ranges: list[tuple[str, float]], media: str) -> tuple[float, int]:
    """The q of the most specific range that matches `media`, and how specific it is."""
    kind = media.split("/", 1)[0]
    found: tuple[float, int] = (0.0, -1)
    for range_, q in ranges:
        if range_ == media:
            specificity = _EXACT
        elif range_ == f"{kind}/*":
            specificity = 1
        elif range_ == "*/*":
            specificity = 0
        else:
            continue
        if specificity > found[1]:
            found = (q, specificity)
    return found


def _q(parameters: list[str]) -> float | None:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                return None  # a malformed range is ignored, as if it were not there
            return q if 0 <= q <= 1 else None
    return 1.0
