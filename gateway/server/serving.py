"""Running the server: an event loop (uvloop when installed), a listening socket, a graceful stop on
SIGINT/SIGTERM, and `--workers N` processes sharing one port through SO_REUSEPORT, a dead one started again.

A server lets the garbage collector's youngest generation grow ten times larger than CPython's default before
a collection: a request allocates thousands of objects that die with it, and with the default (700) the collector
ran about once per request and, every few hundred requests, through everything the process holds (0.2 ms of a
request's CPU on the peer-shaped query; none with the larger threshold, in sequence).

A graceful stop turns `/ready` to 503 at once, keeps listening for `server.drain_ms` (a load balancer polling
`/ready` stops sending meanwhile), closes the listening socket, lets the requests in flight finish (for up to
`server.shutdown_timeout_ms`), then closes the gateway's client sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import replace
from types import FrameType
from typing import Any, Final, TypeVar

from aiohttp import web

from registry.config import ServerConfig

from ..gateway import Gateway
from .app import SETTINGS, STATE, WATCHER, create_app
from .connections import ConnectionGuard, GuardedSite

__all__ = [
    "WORKER_HEADER",
    "base_url",
    "collect_less_often",
    "event_loop_factory",
    "listen_error",
    "listening",
    "run",
    "serve",
    "serve_workers",
    "stop_signals",
]

T = TypeVar("T")

log = logging.getLogger("funnel.server")

WORKER_HEADER: Final = "funnel-worker"  # with --workers: which worker answered (1 to N)

_WORKER_START_TIMEOUT_S = 30.0
_KILL_GRACE_S = 5.0
_RESTART_BASE_S = 0.5
_RESTART_MAX_S = 10.0
_STEADY_S = 60.0  # a worker that ran this long before dying is restarted after the base delay again
_YOUNG_THRESHOLD = 7000  # allocations between collections of the youngest generation (CPython's default: 700)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when uvloop is installed (`pip install -e ".[fast]"`), else None: asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, on uvloop when it is installed."""
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(main)


def listen_error(host: str, port: int, error: OSError) -> str:
    """Why listening failed, in the same words on every event loop (asyncio and uvloop word errno differently)."""
    reason = os.strerror(error.errno) if error.errno else str(error)
    return f"cannot listen on {host}:{port}: {reason}"


def base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def listening(
    app: web.Application, host: str, port: int, *, reuse_port: bool = False, shutdown_timeout_s: float = 10.0
) -> AsyncIterator[str]:
    """Serve `app` on host:port (0: a free port) inside the block; yields the base URL. Leaving the block
    stops listening, waits for requests in flight, then runs the app's cleanup."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout_s)
    await runner.setup()
    try:
        settings = app.get(SETTINGS)
        site: web.TCPSite
        if settings is None:
            site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
        else:  # header timeout, connections per address, quiet answers to malformed requests
            site = GuardedSite(runner, ConnectionGuard(settings), host, port, reuse_port=reuse_port or None)
        await site.start()
        yield base_url(host, runner.addresses[0][1])
    finally:
        await runner.cleanup()


def collect_less_often() -> None:
    """Collections of the youngest generation (and so of the older ones) come ten times less often: most of
    what a request allocates is freed by its reference count before a collection would look at it."""
    _young, *older = gc.get_threshold()
    gc.set_threshold(_YOUNG_THRESHOLD, *older)


def stop_signals() -> asyncio.Event:
    """An event set by the first SIGINT or SIGTERM (a second one changes nothing: the stop is under way)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def serve(
    gateway: Gateway,
    settings: ServerConfig,
    *,
    reuse_port: bool = False,
    on_listening: Callable[[str], None] | None = None,
    worker: int | None = None,
) -> None:
    """Serve `gateway` until SIGINT/SIGTERM; `on_listening` receives the base URL once the port is open.
    `worker`: this process's number among several, named by every answer's `funnel-worker` header."""
    stop = stop_signals()  # before listening: a signal during start-up must still stop cleanly
    app = create_app(gateway, settings)
    _reload_on_hangup(app)
    collect_less_often()
    if worker is not None:
        app.on_response_prepare.append(_name_worker(str(worker)))
    metrics = gateway.observability.metrics
    if metrics is not None and metrics.mirror is not None:
        mirror = metrics.mirror
        app.cleanup_ctx.append(lambda _app: mirror.run())
    async with listening(
        app,
        settings.host,
        settings.port,
        reuse_port=reuse_port,
        shutdown_timeout_s=settings.shutdown_timeout_ms / 1000,
    ) as url:
        if on_listening is not None:
            on_listening(url)
        await stop.wait()
        # Draining: /ready answers 503 while the port still takes requests, so that a load balancer polling it
        # stops sending here before the listener closes.
        app[STATE].shutting_down = True
        await asyncio.sleep(settings.drain_ms / 1000)


def _reload_on_hangup(app: web.Application) -> None:
    """SIGHUP reloads the schema from the config's files (gateway.reload); without a config file, it is ignored
    (its default would end the process)."""
    watcher = app.get(WATCHER)
    loop = asyncio.get_running_loop()
    if watcher is not None:
        loop.add_signal_handler(signal.SIGHUP, watcher.request)
    else:
        loop.add_signal_handler(signal.SIGHUP, log.warning, "SIGHUP: nothing to reload (no config file)")


def _name_worker(name: str) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def prepare(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers[WORKER_HEADER] = name

    return prepare


# -- several processes on one port ---------------------------------------------------------------------------


class _Stop(Exception):
    """Raised in the supervisor's main thread by the first SIGINT/SIGTERM."""


def _ignore_stop_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def _raise_stop(_signum: int, _frame: FrameType | None) -> None:
    _ignore_stop_signals()
    raise _Stop


def _worker(gateway: Gateway, settings: ServerConfig, ready: multiprocessing.Queue[str], index: int) -> None:
    """One worker process: its own event loop and client sessions, the shared port."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)  # the supervisor's handlers are not this process's
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until serve() makes it reload this worker's schema
    try:
        run(
            serve(gateway, settings, reuse_port=True, on_listening=lambda _url: ready.put("ok"), worker=index)
        )
    except OSError as error:
        ready.put(listen_error(settings.host, settings.port, error))
        sys.exit(1)


def serve_workers(
    gateway: Gateway,
    settings: ServerConfig,
    workers: int,
    on_listening: Callable[[str], None] | None = None,
    on_worker_exit: Callable[[int], None] | None = None,
) -> int:
    """Run `workers` processes that all listen on one port (the kernel spreads connections across them) until
    SIGINT/SIGTERM stops them (0), or 1 when they cannot start. A worker that dies is started again, after a
    back-off while it keeps dying; `on_worker_exit` receives the dead one's pid first. Needs SO_REUSEPORT."""
    if not hasattr(socket, "SO_REUSEPORT"):
        print("error: --workers needs SO_REUSEPORT, which this system lacks", file=sys.stderr)
        return 1
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_stop)
    processes: dict[int, multiprocessing.process.BaseProcess] = {}

    def hang_up(_signum: int, _frame: FrameType | None) -> None:
        for process in list(processes.values()):  # each worker reloads its own schema
            if process.pid is not None and process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGHUP)

    signal.signal(signal.SIGHUP, hang_up)
    # Fork, not spawn: the workers inherit the gateway the supervisor has loaded and checked, and there is no
    # event loop or thread yet to inherit badly.
    context = multiprocessing.get_context("fork")
    ready: multiprocessing.Queue[str] = context.Queue()

    def start(index: int) -> None:
        process = context.Process(
            target=_worker, args=(gateway, settings, ready, index), name=f"worker-{index}"
        )
        process.start()
        processes[index] = process

    try:
        with _reserved_port(settings.host, settings.port) as port:
            settings = replace(settings, port=port)
            for index in range(1, workers + 1):
                start(index)
            failure = _wait_ready(ready, workers)
            if failure is not None:
                print(f"error: {failure}", file=sys.stderr)
                return 1
        if on_listening is not None:
            on_listening(base_url(settings.host, port))
        backoff = {index: _Restarts() for index in processes}
        while True:
            multiprocessing.connection.wait([p.sentinel for p in processes.values()])
            for index, dead in list(processes.items()):
                if dead.exitcode is None:
                    continue
                delay = backoff[index].next_delay()
                print(
                    f"error: worker {index} (pid {dead.pid}) exited with code {dead.exitcode}; "
                    f"starting it again in {delay:g} s",
                    file=sys.stderr,
                    flush=True,
                )
                if on_worker_exit is not None and dead.pid is not None:
                    on_worker_exit(dead.pid)
                time.sleep(delay)
                start(index)
            _report_failed_starts(ready)
    except _Stop:
        return 0
    finally:
        _ignore_stop_signals()
        _stop_all(list(processes.values()), settings.shutdown_timeout_ms / 1000 + _KILL_GRACE_S)


class _Restarts:
    """A worker's back-off: 0.5 s after a death, doubling (to 10 s) while it dies within a minute of starting."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.started = time.monotonic()

    def next_delay(self) -> float:
        quick = time.monotonic() - self.started < _STEADY_S
        self.delay = min(_RESTART_MAX_S, self.delay * 2) if quick and self.delay else _RESTART_BASE_S
        self.started = time.monotonic() + self.delay
        return self.delay


def _report_failed_starts(ready: multiprocessing.Queue[str]) -> None:
    """What restarted workers said: "ok", or why they could not listen (they exit, and are restarted)."""
    while True:
        try:
            message = ready.get_nowait()
        except queue.Empty:
            return
        if message != "ok":
            print(f"error: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _reserved_port(host: str, port: int) -> Iterator[int]:
    """The port the workers share. For port 0 a free one is chosen and held (bound with SO_REUSEPORT, not
    listening, so it receives no connections) until every worker listens on it."""
    if port != 0:
        yield port
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as placeholder:
        placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        placeholder.bind((host, 0))
        yield placeholder.getsockname()[1]


def _wait_ready(ready: multiprocessing.Queue[str], waiting: int) -> str | None:
    """None once `waiting` workers listen, else the first failure."""
    while waiting:
        try:
            message = ready.get(timeout=_WORKER_START_TIMEOUT_S)
        except queue.Empty:
            return f"the workers did not start within {_WORKER_START_TIMEOUT_S:g} s"
        if message != "ok":
            return message
        waiting -= 1
    return None


def _stop_all(processes: list[multiprocessing.process.BaseProcess], grace_s: float) -> None:
    """SIGTERM each worker (each finishes its requests in flight), SIGKILL those still there after `grace_s`."""
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
