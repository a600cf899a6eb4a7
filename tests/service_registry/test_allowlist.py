"""registry.allowed_urls, rule by rule (gateway.registry.urls)."""

from __future__ import annotations

import pytest

from gateway.registry.urls import Allowlist, refused_url, valid_service_name

LIST = Allowlist.of(
    ("http://127.0.0.1:*", "https://*.svc.cluster.local", "http://catalog:4002", "http://[::1]:8080")
)
ALLOWED = "Allowed: http://127.0.0.1:*, https://*.svc.cluster.local, http://catalog:4002, http://[::1]:8080."


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4002/graphql",
        "http://127.0.0.1/graphql",  # :* is any port, the default one too
        "https://catalog.default.svc.cluster.local/graphql",  # *. is one label or more
        "https://a.svc.cluster.local",
        "https://A.SVC.Cluster.Local./graphql",  # case and a trailing dot do not count
        "http://catalog:4002/graphql",
        "http://[::1]:8080/graphql",
    ],
)
def test_allowed(url: str) -> None:
    assert LIST.refusal(url) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (
            "https://svc.cluster.local/graphql",
            "it matches no entry of registry.allowed_urls",
        ),  # not the domain
        ("https://evil.svc.cluster.local.example.com", "it matches no entry of registry.allowed_urls"),
        ("http://a.svc.cluster.local", "it matches no entry of registry.allowed_urls"),  # scheme
        ("https://a.svc.cluster.local:8443", "it matches no entry of registry.allowed_urls"),  # not 443
        ("http://catalog/graphql", "it matches no entry of registry.allowed_urls"),  # port 80, not 4002
        ("http://127.0.0.2:4002", "it matches no entry of registry.allowed_urls"),
        (
            "http://localhost:4002",
            "it matches no entry of registry.allowed_urls",
        ),  # names are compared as written
        ("http://127.0.0.1:4002/graphql?token=x", "it carries a query or a fragment"),
        ("http://127.0.0.1:4002/graphql#x", "it carries a query or a fragment"),
        (
            "http://u@127.0.0.1:4002",
            "it carries user information (a credential has no place in an instance URL)",
        ),
        ("gopher://127.0.0.1:70", "its scheme must be http or https"),
        ("http:///graphql", "it names no host"),
        ("http://127.0.0.1:x/", "it is not a URL"),
        ("http://127.0.0.1:4002/a b", "it holds white space or control characters"),
    ],
)
def test_refused(url: str, why: str) -> None:
    assert LIST.refusal(url) == f"The instance URL {url!r} is refused: {why}. {ALLOWED}"


def test_an_empty_allowlist_refuses_everything() -> None:
    assert Allowlist.of(()).refusal("http://127.0.0.1:1") == (
        "The instance URL 'http://127.0.0.1:1' is refused: it matches no entry of registry.allowed_urls. "
        "Allowed: nothing (registry.allowed_urls is empty)."
    )


def test_a_long_url_is_refused_and_shown_cut() -> None:
    url = "http://127.0.0.1:1/" + "a" * 3000
    assert refused_url(url) == "it is longer than 2048 characters"
    assert (
        LIST.refusal(url)
        == f"The instance URL {url[:200] + '...'!r} is refused: it is longer than 2048 characters. {ALLOWED}"
    )


def test_service_names() -> None:
    assert valid_service_name("catalog") and valid_service_name("_a-1") and valid_service_name("a" * 64)
    assert not any(valid_service_name(n) for n in ("", "1a", "a b", "a/b", "a" * 65, "é"))
