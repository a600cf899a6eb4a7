"""Commands run as child processes by the tests: bounded waits for their output, and nothing left behind.

Each child gets its own session (process group), so whatever it starts — services, workers, a browser's
helpers — is killed with it when the test ends, however the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["Child", "descendants", "is_running", "start_child"]


@dataclass
class Child:
    process: asyncio.subprocess.Process
    stderr: IO[bytes]
    lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def errors(self) -> str:
        """What it wrote to stderr so far."""
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def output(self) -> str:
        """Everything it printed so far, for failure messages."""
        return "stdout:\n" + "".join(self.lines) + "\nstderr:\n" + self.errors()

    async def exit_code(self, timeout: float = 30.0) -> int:
        try:
            async with asyncio.timeout(timeout):
                return await self.process.wait()
        except TimeoutError:
            raise AssertionError(f"still running after {timeout:g} s\n{self.output()}") from None

    async def read_until(self, text: str, timeout: float = 30.0) -> str:
        """The first line of stdout containing `text`; fails with everything printed so far otherwise."""
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = (await self.process.stdout.readline()).decode()
                    if not line:
                        raise AssertionError(f"exited ({await self.process.wait()}) before printing {text!r}")
                    self.lines.append(line)
                    if text in line:
                        return line
        except (TimeoutError, AssertionError) as error:
            raise AssertionError(f"{error or 'timed out'} waiting for {text!r}\n{self.output()}") from None

    async def stop(self, signum: int = signal.SIGINT, timeout: float = 30.0) -> int:
        """Send `signum` to the command alone (not its group) and wait for it to exit."""
        self.process.send_signal(signum)
        try:
            async with asyncio.timeout(timeout):
                code = await self.process.wait()
        except TimeoutError:
            raise AssertionError(
                f"did not exit within {timeout:g} s of signal {signum}\n{self.output()}"
            ) from None
        assert self.process.stdout is not None
        self.lines.append((await self.process.stdout.read()).decode())
        return code


@contextlib.asynccontextmanager
async def start_child(
    *argv: str,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: int = asyncio.subprocess.DEVNULL,
) -> AsyncIterator[Child]:
    """Start `argv` with this process's environment plus `env`; `stdin=asyncio.subprocess.PIPE` for a command
    that runs until its stdin closes (`child.process.stdin`)."""
    with tempfile.TemporaryFile() as stderr:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )
        try:
            yield Child(process, stderr)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")"
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def is_running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
