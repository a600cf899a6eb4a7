"""What a service calls to join a gateway's registry: register, renew the lease every ttl/3, leave at shutdown.

    client = RegistryClient("http://127.0.0.1:4000", "reviews", "http://127.0.0.1:4004/graphql", token=token)
    await client.start()      # registers (trying again while the gateway is away), then heartbeats
    ...
    await client.stop()       # deregisters

    app.cleanup_ctx.append(client.context)   # or: the same, tied to an aiohttp application's life

A heartbeat that finds the instance gone (404: it expired, or the registry lost it) registers again. A gateway
or store that cannot be reached (a connection error, 503) is tried again after its Retry-After (else ttl/3);
a refusal (401, 403, 404 with registration off, 409, 413, 422) is logged with the gateway's message and not
tried again: it needs a change of config. The token is sent only in the Authorization header, never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from registry.redaction import redact_url

from .background import start_background, stop_background

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["Registration", "RegistrationRefused", "RegistryClient"]

log = logging.getLogger("funnel.registry.client")

_TIMEOUT: Final = aiohttp.ClientTimeout(total=10)
_MAX_RETRY_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class Registration:
    service: str
    id: str
    ttl_s: int
    schema_version: str


class RegistrationRefused(Exception):
    """The gateway refused: trying again will not help until its config or the registration changes."""

    def __init__(self, status: int, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(f"{status}: {message}" + "".join(f"\n  {p}" for p in problems))
        self.status = status
        self.message = message
        self.problems = problems


class _TryAgain(Exception):
    def __init__(self, why: str, after_s: float | None) -> None:
        super().__init__(why)
        self.after_s = after_s


class RegistryClient:
    def __init__(
        self,
        gateway: str,
        service: str,
        url: str | Callable[[], str | None],
        *,
        token: str,
        protocol: str = "graphql",
        health_path: str | None = None,
        schema: Mapping[str, str] | None = None,
        ttl_s: int = 10,
    ) -> None:
        """`gateway`: the gateway's base URL; `url`: this instance's (or a function giving it once known, for a
        server on port 0); `schema`: its contribution, e.g. {"kind": "federation", "sdl": ...} (default: the
        gateway introspects it)."""
        self.gateway = gateway.rstrip("/")
        self._shown = redact_url(self.gateway)  # what the logs name
        self.service = service
        self._url = url
        self._token = token
        self.protocol = protocol
        self.health_path = health_path
        self.schema = dict(schema) if schema is not None else None
        self.ttl_s = ttl_s
        self.registration: Registration | None = None
        self.refused: RegistrationRefused | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    @property
    def _instances(self) -> str:
        return f"{self.gateway}/registry/services/{self.service}/instances"

    def instance_url(self) -> str | None:
        return self._url() if callable(self._url) else self._url

    # -- one exchange each ------------------------------------------------------------------------------

    async def register(self) -> Registration:
        """Register (or register again): RegistrationRefused, or _TryAgain for a gateway away."""
        url = self.instance_url()
        if url is None:
            raise _TryAgain("the instance's URL is not known yet", 0.05)
        body: dict[str, Any] = {"url": url, "protocol": self.protocol, "ttl_s": self.ttl_s}
        if self.health_path is not None:
            body["health_path"] = self.health_path
        if self.schema is not None:
            body["schema"] = self.schema
        status, answer, retry_after = await self._exchange("POST", self._instances, body)
        if status in (200, 201):
            registration = Registration(self.service, answer["id"], answer["ttl_s"], answer["schema_version"])
            if self.registration is None or self.registration.id != registration.id:
                log.info("%s registered at %s as instance %s", self.service, self._shown, registration.id)
            self.registration = registration
            return registration
        raise _failure(status, answer, retry_after)

    async def heartbeat(self) -> None:
        """Renew the lease; register again when the gateway no longer knows the instance."""
        if self.registration is None:
            await self.register()
            return
        path = f"{self._instances}/{self.registration.id}"
        status, answer, retry_after = await self._exchange("PUT", path, {"ttl_s": self.ttl_s})
        if status == 200:
            return
        if status == 404 and not _off(answer):
            log.info(
                "%s: the gateway no longer knows instance %s, registering again", self.service, path[-16:]
            )
            self.registration = None
            await self.register()
            return
        raise _failure(status, answer, retry_after)

    async def deregister(self) -> None:
        registration, self.registration = self.registration, None
        if registration is None:
            return
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            await self._exchange("DELETE", f"{self._instances}/{registration.id}", None)
            log.info("%s instance %s deregistered", self.service, registration.id)

    # -- the loop ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register and heartbeat in the background (a gateway away is waited for)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        if self._task is None:
            self._task = start_background(self._run(), f"registry-{self.service}")

    async def stop(self) -> None:
        """Stop heartbeating and deregister."""
        await stop_background(self._task)
        self._task = None
        if self._session is not None:
            await self.deregister()
            await self._session.close()
            self._session = None

    async def context(self, _app: web.Application) -> AsyncIterator[None]:
        """For `app.cleanup_ctx.append(client.context)`."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def _run(self) -> None:
        period = max(self.ttl_s / 3, 0.1)
        while True:
            try:
                await self.heartbeat()
                wait = period
            except RegistrationRefused as refused:
                self.refused = refused
                log.error("%s cannot register at %s: %s", self.service, self._shown, refused)
                return
            except _TryAgain as away:
                wait = min(away.after_s if away.after_s is not None else period, _MAX_RETRY_S)
                log.debug("%s: registry at %s: %s; again in %g s", self.service, self._shown, away, wait)
            except (aiohttp.ClientError, TimeoutError) as error:
                wait = period
                log.warning(
                    "%s: the gateway at %s cannot be reached (%s)",
                    self.service,
                    self._shown,
                    type(error).__name__,
                )
            await asyncio.sleep(wait)

    async def _exchange(self, method: str, url: str, body: Any) -> tuple[int, Any, float | None]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        async with self._session.request(method, url, json=body, headers=self._headers) as response:
            try:
                answer = await response.json(content_type=None) if response.status != 204 else None
            except ValueError:  # not the gateway's JSON (a proxy's page): the status says enough
                answer = None
            return response.status, answer, _retry_after(response.headers.get("Retry-After"))


def _off(answer: Any) -> bool:
    """A 404 that says registration is off, not that the instance is unknown."""
    return _message(answer).startswith("Registration is off")


def _message(answer: Any) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("errors"), list) and answer["errors"]:
        first = answer["errors"][0]
        if isinstance(first, dict):
            return str(first.get("message", ""))
    return ""


def _failure(status: int, answer: Any, retry_after: float | None) -> Exception:
    if status >= 500 or status == 408:
        return _TryAgain(f"{status}: {_message(answer)}", retry_after)
    problems = answer.get("problems", []) if isinstance(answer, dict) else []
    return RegistrationRefused(status, _message(answer), tuple(str(p) for p in problems))


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
