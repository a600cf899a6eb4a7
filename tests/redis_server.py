"""A real `redis-server` (Debian's package) on a free loopback port, for the tests of everything shared through
Redis. It can be stopped and started again on the same port, as an outage would be.

    async with redis_server() as redis:
        config = {"url": redis.url}
        await redis.stop(); ...; await redis.start()
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from examples.services.topology import free_port

from .processes import Child, start_child
from .programs import require_program

__all__ = ["RedisServer", "redis_server"]


class RedisServer:
    """One redis-server process at a time on one port, with nothing persisted between its runs."""

    def __init__(self, program: str, port: int, directory: Path) -> None:
        self.program = program
        self.port = port
        self.directory = directory
        self.url = f"redis://127.0.0.1:{port}/0"
        self._stack = contextlib.AsyncExitStack()
        self._child: Child | None = None

    async def start(self) -> None:
        assert self._child is None, "already running"
        self._child = await self._stack.enter_async_context(
            start_child(
                self.program,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
                "--protected-mode", "no",
            )
        )  # fmt: skip
        await self._child.read_until("Ready to accept connections", timeout=20)

    async def stop(self) -> None:
        """Kill it (as a crash would: no shutdown save) and wait until it is gone."""
        assert self._child is not None, "not running"
        self._child = None
        await self._stack.aclose()
        self._stack = contextlib.AsyncExitStack()

    def pause(self) -> None:
        """Stop it answering (SIGSTOP), as a Redis that hangs: connections stay open, commands time out."""
        assert self._child is not None, "not running"
        self._child.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._child is not None, "not running"
        self._child.process.send_signal(signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self._child is not None

    async def close(self) -> None:
        await self._stack.aclose()


@contextlib.asynccontextmanager
async def redis_server(directory: Path) -> AsyncIterator[RedisServer]:
    program = require_program(("redis-server",), "redis-server")
    server = RedisServer(program, free_port(), directory)
    try:
        await server.start()
        yield server
    finally:
        await server.close()


async def wait_closed(port: int, timeout: float = 10.0) -> None:
    """Until nothing accepts connections on `port` (a stopped server's socket is really gone)."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return
            writer.close()
            await asyncio.sleep(0.05)
