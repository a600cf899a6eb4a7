"""`funnel check` past the config and the SDL: each GraphQL service's own schema, introspected, against the
bindings that call it (`gateway.schema.downstream`). A service that cannot be reached is reported and skipped."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from registry.errors import Problem

from ..gateway import Gateway
from ..schema.downstream import verify_bindings
from ..schema.introspect import IntrospectionError, fetch_schema

__all__ = ["DownstreamCheck", "check_downstream"]


@dataclass(frozen=True, slots=True)
class DownstreamCheck:
    checked: tuple[str, ...]  # the services whose schemas were compared
    problems: tuple[Problem, ...]
    unreachable: tuple[Problem, ...]  # services not checked, and why (located at their config entry)


async def check_downstream(gateway: Gateway) -> DownstreamCheck:
    """Introspect, at once, every GraphQL service some binding calls; verify the bindings against them."""
    called = {getattr(b, "service", None) for b in gateway.bindings.values()}
    services = [s for name, s in gateway.services.items() if name in called and s.protocol == "graphql"]
    answers = await asyncio.gather(
        *(fetch_schema(s.url, timeout=s.timeout_ms / 1000) for s in services), return_exceptions=True
    )
    schemas = {}
    unreachable = []
    for service, answer in zip(services, answers, strict=True):
        if isinstance(answer, IntrospectionError):
            where = service.location
            message = f"not checked against the service: {answer.message}"
            unreachable.append(
                Problem(
                    message,
                    where.file if where else None,
                    where.line if where else None,
                    f"services.{service.name}",
                )
            )
        elif isinstance(answer, BaseException):
            raise answer
        else:
            schemas[service.name] = answer
    problems = verify_bindings(gateway.schema, gateway.bindings.values(), schemas)
    return DownstreamCheck(tuple(schemas), tuple(problems), tuple(unreachable))
