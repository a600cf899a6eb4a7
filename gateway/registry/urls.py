"""What a registration may name: service names, and instance URLs within `registry.allowed_urls`.

The allowlist keeps registering from pointing the gateway at addresses it must not call (SSRF). Its rules:

- an entry is `scheme://host-pattern[:port]`: the scheme (http or https) must be the URL's;
- the host pattern is a host name or address, compared without regard to case (a trailing dot dropped), or
  `*.` followed by a domain: any host under that domain (one label or more), never the domain itself; `*` alone
  is any host;
- the port: none written is the scheme's default (80, 443) only; `:*` is any port; `:N` is that port only;
- the URL itself carries no user information, query or fragment (a credential has no place there), and its path
  is free (`/graphql`).

The host is compared as written: a name that resolves elsewhere is the allowlist's own business (list names
whose DNS you control).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_URL_LENGTH",
    "SERVICE_NAME",
    "Allowlist",
    "UrlPattern",
    "refused_url",
    "valid_service_name",
]

MAX_NAME_LENGTH: Final = 64
MAX_URL_LENGTH: Final = 2048
SERVICE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # the config's own rule for service names
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def valid_service_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and SERVICE_NAME.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class UrlPattern:
    text: str  # as written in the config
    scheme: str
    host: str  # lower case; "*" any; "*.domain" any host under domain
    port: int | None  # None: any port

    @classmethod
    def parse(cls, text: str) -> UrlPattern:
        scheme, _, rest = text.partition("://")
        host, port_text = rest, ""
        if rest.startswith("["):  # an IPv6 address: its colons are not the port's
            end = rest.find("]")
            host, port_text = rest[: end + 1], rest[end + 1 :].removeprefix(":")
        elif ":" in rest:
            host, _, port_text = rest.rpartition(":")
        if port_text == "*":
            port: int | None = None
        elif port_text:
            port = int(port_text)
        else:
            port = _DEFAULT_PORTS[scheme]
        return cls(text, scheme, _plain_host(host), port)

    def allows(self, scheme: str, host: str, port: int) -> bool:
        if scheme != self.scheme or (self.port is not None and port != self.port):
            return False
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and len(host) > len(self.host) - 1
        return host == self.host


@dataclass(frozen=True, slots=True)
class Allowlist:
    patterns: tuple[UrlPattern, ...]

    @classmethod
    def of(cls, texts: tuple[str, ...]) -> Allowlist:
        return cls(tuple(UrlPattern.parse(t) for t in texts))

    def refusal(self, url: str) -> str | None:
        """Why `url` may not be an instance's (a message naming it and the allowlist), or None."""
        shown = url if len(url) <= 200 else url[:200] + "..."
        listed = ", ".join(p.text for p in self.patterns) or "nothing (registry.allowed_urls is empty)"
        why = refused_url(url)
        if why is None:
            parts = urlsplit(url)
            port = parts.port if parts.port is not None else _DEFAULT_PORTS[parts.scheme]
            host = _plain_host(parts.hostname or "")
            if any(p.allows(parts.scheme, host, port) for p in self.patterns):
                return None
            why = "it matches no entry of registry.allowed_urls"
        return f"The instance URL {shown!r} is refused: {why}. Allowed: {listed}."


def refused_url(url: str) -> str | None:
    """What is wrong with `url` as an instance URL whatever the allowlist, or None."""
    if len(url) > MAX_URL_LENGTH:
        return f"it is longer than {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "it is not a URL"
    if parts.scheme not in _DEFAULT_PORTS:
        return "its scheme must be http or https"
    if not parts.hostname:
        return "it names no host"
    if "@" in parts.netloc:
        return "it carries user information (a credential has no place in an instance URL)"
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "it carries a query or a fragment"
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        return "it holds white space or control characters"
    return None


def _plain_host(host: str) -> str:
    return host.lower().rstrip(".").removeprefix("[").removesuffix("]")
