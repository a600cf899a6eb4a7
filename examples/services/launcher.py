"""Run the four example services as separate processes (``python -m examples.services`` and ``funnel demo``).

    with start_services(4001) as services:      # blocks until every /health answers
        services.urls                            # {"accounts": "http://127.0.0.1:4001", "catalog": ...}
        services.exited()                        # {} while all run; else name -> exit code
        services.supervise()                     # call it now and then: restarts the dead, says what it did
    # all stopped here (SIGTERM, then SIGKILL after a grace period)

A service that dies is started again on its port, after a back-off that doubles each time it dies soon after a
start (`RestartPolicy`), so that the others keep serving and a demo shows partial results, then recovery.

accounts listens on the base port, catalog on +1, orders on +2, reviews on +3; orders is told where catalog
and accounts are. This is synchronous (subprocess + urllib); from async code call ``start``/``stop`` through
``asyncio.to_thread``.

With ``registry=`` (a gateway's base URL) every service registers itself there once listening and deregisters
when stopped (``--registry``, the token in the children's $FUNNEL_REGISTRY_TOKEN only), and ``join(name)``
starts another instance of a service on a free port, sharing its database (``db_dir``): it joins the gateway's
registry, and is supervised and stopped like the others.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self, TypedDict, Unpack

from .topology import (
    DEFAULT_BASE_PORT,
    DEFAULT_HOST,
    REGISTRY_TOKEN_ENV,
    SERVICE_NAMES,
    service_urls,
    upstream_urls,
)

__all__ = [
    "RestartPolicy",
    "ServiceOptions",
    "ServiceProcesses",
    "ServiceStartError",
    "service_urls",
    "start_services",
]

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_POLL_S = 0.05
_STDERR_TAIL_LINES = 20
# A proxy from the environment must never sit between us and loopback.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServiceStartError(RuntimeError):
    """A service did not come up; the message names it (and shows its last stderr lines when captured)."""


def _answers_health(url: str) -> bool:
    try:
        with _DIRECT.open(f"{url}/health", timeout=0.5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, http.client.HTTPException):  # something else on the port
        return False


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """When a dead service is started again: `initial_s` after its death, doubled for each death that follows
    a start by less than `stable_s` (a crash loop), at most `max_s`."""

    initial_s: float = 0.5
    max_s: float = 10.0
    stable_s: float = 30.0


@dataclass(slots=True)
class _Restarts:
    """One service's restart state."""

    started_at: float
    delay_s: float = 0.0  # the back-off the next death waits (0: the policy's initial)
    due: float | None = None  # when a dead service is started again
    count: int = 0


class ServiceOptions(TypedDict, total=False):
    """How to run the services; the defaults are those of :class:`ServiceProcesses`."""

    host: str
    latency_ms: float
    max_concurrency: int | None
    db_dir: str | None
    startup_timeout_s: float
    quiet: bool
    restart: RestartPolicy
    registry: str | None
    registry_token: str | None


class ServiceProcesses:
    """The four services as child processes; a context manager that starts them and always stops them.

    ``quiet=True`` silences the children, keeping their stderr only to quote it if one fails to start.
    ``db_dir`` keeps the databases as ``<db_dir>/<name>.sqlite3``; by default each child keeps its database in
    memory. ``registry`` (a gateway's base URL) and ``registry_token``: see the module's docstring.
    """

    def __init__(self, base_port: int = DEFAULT_BASE_PORT, **options: Unpack[ServiceOptions]) -> None:
        self.host = options.get("host", DEFAULT_HOST)
        self.latency_ms = options.get("latency_ms", 0.0)
        self.max_concurrency = options.get("max_concurrency")
        self.db_dir = options.get("db_dir")
        self.startup_timeout_s = options.get("startup_timeout_s", 20.0)
        self.quiet = options.get("quiet", False)
        self.restart = options.get("restart", RestartPolicy())
        self.registry = options.get("registry")
        self._registry_token = options.get("registry_token")
        self.urls = service_urls(base_port, self.host)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._stderr: dict[str, IO[bytes]] = {}
        self._restarts: dict[str, _Restarts] = {}
        self._joined: dict[str, str] = {}  # a joined instance's key ("orders#2") -> its service

    # ---------------------------------------------------------------------------------------- lifecycle

    def start(self) -> dict[str, str]:
        """Start every service and wait until each answers ``/health``; returns :attr:`urls`.

        On failure everything already started is stopped and :class:`ServiceStartError` names the service.
        """
        if self.processes:
            return self.urls
        if self.db_dir is not None:
            os.makedirs(self.db_dir, exist_ok=True)
        try:
            for name in SERVICE_NAMES:
                self._spawn(name)
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self.urls

    def join(self, name: str) -> str:
        """Start one more instance of the service `name` on a free port; it registers itself at
        :attr:`registry` (which must be set). Its key in :attr:`processes` (``orders#2``), without waiting."""
        if self.registry is None:
            raise ValueError("join() needs registry=: the gateway the instance registers at")
        key = f"{name}#{sum(service == name for service in self._joined.values()) + 2}"
        self._joined[key] = name
        self._spawn(key)
        return key

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM every child still running, SIGKILL those that outlive ``grace_s``, reap them all."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stderr in self._stderr.values():
            stderr.close()
        self._stderr.clear()

    def exited(self) -> dict[str, int]:
        """Service name -> exit code, for every child that is no longer running."""
        codes = {name: process.poll() for name, process in self.processes.items()}
        return {name: code for name, code in codes.items() if code is not None}

    def supervise(self, now: float | None = None) -> list[str]:
        """Note the services that died and start again those whose back-off is over; what happened, one line
        each (`service 'catalog' exited with code -9; restarting it in 0.5 s`, `service 'catalog' restarted
        (pid 1234)`)."""
        now = time.monotonic() if now is None else now
        events: list[str] = []
        for name, code in self.exited().items():
            state = self._restarts.setdefault(name, _Restarts(started_at=now))
            if state.due is None:
                policy = self.restart
                quick = now - state.started_at < policy.stable_s
                state.delay_s = (
                    min(policy.max_s, state.delay_s * 2) if quick and state.delay_s else policy.initial_s
                )
                state.due = now + state.delay_s
                events.append(
                    f"service {name!r} exited with code {code}; restarting it in {state.delay_s:g} s"
                )
            elif now >= state.due:
                self.processes[name].wait()
                self._spawn(name)
                state.started_at, state.due = now, None
                state.count += 1
                events.append(f"service {name!r} restarted (pid {self.processes[name].pid})")
        return events

    def restarts(self) -> dict[str, int]:
        """Service name -> how many times it has been started again."""
        return {name: state.count for name, state in self._restarts.items()}

    @property
    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ helpers

    def command(self, key: str) -> list[str]:
        """The command line that runs one service, or one instance started by :meth:`join` (by its key)."""
        name = self._joined.get(key, key)
        port = "0" if key in self._joined else self.urls[name].rsplit(":", 1)[1]
        command = [sys.executable, "-m", f"examples.services.{name}", "--port", port, "--host", self.host]
        command += ["--latency-ms", str(self.latency_ms), "--parent-pid", str(os.getpid())]
        if self.max_concurrency is not None:
            command += ["--max-concurrency", str(self.max_concurrency)]
        if self.db_dir is not None:  # the instances of one service share its data
            command += ["--db", os.path.join(self.db_dir, f"{name}.sqlite3")]
        if self.registry is not None:
            command += ["--registry", self.registry]
        if name == "orders":
            upstreams = upstream_urls(self.urls)
            command += [
                "--catalog-url",
                upstreams["catalog_url"],
                "--accounts-url",
                upstreams["accounts_url"],
            ]
        return command

    def _spawn(self, name: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # The examples are not an installed package: the children find them from the project root.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
        if self._registry_token is not None:  # in the environment, not the command line that `ps` shows
            env[REGISTRY_TOKEN_ENV] = self._registry_token
        stdout: int | None = None
        stderr: IO[bytes] | None = None
        if self.quiet:
            stdout = subprocess.DEVNULL
            if name in self._stderr:  # a restart: the dead one's output goes with it
                self._stderr.pop(name).close()
            # Kept open for the child's lifetime (closed by stop()), so no with-block.
            stderr = self._stderr[name] = tempfile.TemporaryFile()  # noqa: SIM115
        self.processes[name] = subprocess.Popen(
            self.command(name), env=env, cwd=_PROJECT_ROOT, stdout=stdout, stderr=stderr
        )

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        waiting = list(SERVICE_NAMES)
        while waiting:
            for name in list(waiting):
                code = self.processes[name].poll()
                if code is not None:
                    raise ServiceStartError(self._failure(name, f"exited with code {code} during startup"))
                if _answers_health(self.urls[name]):
                    waiting.remove(name)
            if waiting and time.monotonic() > deadline:
                name = waiting[0]
                late = f"did not answer {self.urls[name]}/health within {self.startup_timeout_s:g} s"
                raise ServiceStartError(self._failure(name, late))
            if waiting:
                time.sleep(_POLL_S)

    def _failure(self, name: str, what: str) -> str:
        message = f"service {name!r} {what}"
        stderr = self._stderr.get(name)
        if stderr is not None:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace").strip().splitlines()[-_STDERR_TAIL_LINES:]
            if tail:
                message += ":\n" + "\n".join(tail)
        return message


def start_services(base_port: int = DEFAULT_BASE_PORT, **options: Unpack[ServiceOptions]) -> ServiceProcesses:
    """Start the services and wait until they answer; use the result in a ``with`` block (or call its
    ``stop()``) to stop them. ``.urls`` maps each name to its base URL."""
    services = ServiceProcesses(base_port, **options)
    services.start()
    return services
