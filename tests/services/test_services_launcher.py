"""The services as real processes: one service's CLI, the launcher CLI and the launcher module."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.services.launcher import RestartPolicy, ServiceProcesses, ServiceStartError, start_services

from .helpers import free_port_block

ROOT = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"^\s+(\w+)\s+(http://[\d.]+:\d+)\S*\s+\(pid (\d+)\)$")
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str) -> tuple[int, object]:
    with _DIRECT.open(url, timeout=5) as response:
        return response.status, json.loads(response.read())


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def spawn(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still running at teardown is killed (its children follow the parent)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def read_launcher_urls(launcher: subprocess.Popen[str]) -> dict[str, tuple[str, int]]:
    """Name -> (base URL, pid) from the launcher's banner."""
    assert launcher.stdout is not None
    found: dict[str, tuple[str, int]] = {}
    for line in launcher.stdout:
        if match := URL_LINE.match(line):
            found[match[1]] = (match[2], int(match[3]))
        if line.startswith("Press Ctrl-C"):
            return found
    raise AssertionError(f"launcher ended before its banner; stderr: {launcher.communicate()[1]}")


def test_one_service_on_port_zero_prints_its_port(processes: list[subprocess.Popen[str]]) -> None:
    service = spawn("examples.services.catalog", "--port", "0")
    processes.append(service)
    assert service.stdout is not None
    match = re.fullmatch(
        r"catalog listening on (http://127\.0\.0\.1:(\d+)) \(db: (.+)\)\n", service.stdout.readline()
    )
    assert match is not None and int(match[2]) > 0
    url = match[1]
    assert match[3] == "in memory"  # nothing on disk: a killed service leaves no file behind
    assert fetch(f"{url}/health") == (200, {"status": "ok"})
    service.send_signal(signal.SIGTERM)
    assert service.wait(timeout=10) == 0


def test_launcher_starts_all_and_stops_all_on_sigterm(
    processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    base = free_port_block(4)
    launcher = spawn(
        "examples.services", "--base-port", str(base), "--db-dir", str(tmp_path), "--latency-ms", "1"
    )
    processes.append(launcher)
    services = read_launcher_urls(launcher)
    assert {name: url for name, (url, _) in services.items()} == {
        "accounts": f"http://127.0.0.1:{base}",
        "catalog": f"http://127.0.0.1:{base + 1}",
        "orders": f"http://127.0.0.1:{base + 2}",
        "reviews": f"http://127.0.0.1:{base + 3}",
    }
    for url, _ in services.values():
        assert fetch(f"{url}/health") == (200, {"status": "ok"})
    # orders was told where catalog and accounts are.
    place = {"query": 'mutation { placeOrder(buyerId: "1", productId: "2", quantity: 1) { id } }'}
    request = urllib.request.Request(
        services["orders"][0] + "/graphql",
        data=json.dumps(place).encode(),
        headers={"Content-Type": "application/json"},
    )
    with _DIRECT.open(request, timeout=5) as response:
        assert json.loads(response.read()) == {"data": {"placeOrder": {"id": "10001"}}}

    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(timeout=15) == 0
    assert not any(is_running(pid) for _, pid in services.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "accounts.sqlite3",
        "catalog.sqlite3",
        "orders.sqlite3",
        "reviews.sqlite3",
    ]


def health(url: str) -> int | None:
    try:
        return fetch(f"{url}/health")[0]
    except OSError:
        return None


def test_launcher_restarts_a_child_that_dies_and_keeps_the_others(
    processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    # A killed child cannot remove a temporary database, so keep them all in tmp_path.
    launcher = spawn("examples.services", "--base-port", str(free_port_block(4)), "--db-dir", str(tmp_path))
    processes.append(launcher)
    services = read_launcher_urls(launcher)
    orders_url, orders_pid = services["orders"]
    os.kill(orders_pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while health(orders_url) == 200 and time.monotonic() < deadline:  # until the kill has taken effect
        time.sleep(0.02)
    # the others keep answering while orders is down
    for name in ("accounts", "catalog", "reviews"):
        assert health(services[name][0]) == 200, name
    while health(orders_url) != 200:  # started again on its port, after the back-off
        assert time.monotonic() < deadline, "orders was not restarted within 30 s"
        time.sleep(0.05)
    assert launcher.poll() is None  # the launcher itself never stopped

    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(timeout=15) == 0
    _, stderr = launcher.communicate()
    lines = stderr.splitlines()
    assert lines[0] == "service 'orders' exited with code -9; restarting it in 0.5 s"
    assert re.fullmatch(r"service 'orders' restarted \(pid (\d+)\)", lines[1]), stderr
    assert len(lines) == 2, stderr
    assert not any(is_running(pid) for _, pid in services.values())


def test_restarts_back_off_while_a_service_keeps_dying() -> None:
    policy = RestartPolicy(initial_s=0.5, max_s=2.0, stable_s=30.0)
    services = ServiceProcesses(free_port_block(4), quiet=True, restart=policy)
    # Stand-ins that exit at once: the launcher's bookkeeping, not the services, is under test.
    services.command = lambda name: [sys.executable, "-c", "raise SystemExit(3)"]  # type: ignore[method-assign]
    try:
        for name in ("catalog",):
            services._spawn(name)
        services.processes["catalog"].wait(timeout=10)
        events = []
        now = 100.0
        for _ in range(4):  # each death soon after its start: 0.5, 1, 2, then capped at 2
            events += services.supervise(now)
            delay = float(events[-1].rsplit(" in ", 1)[1].removesuffix(" s"))
            now += delay
            events += services.supervise(now)
            services.processes["catalog"].wait(timeout=10)
        delays = [e for e in events if "exited" in e]
        assert delays == [
            f"service 'catalog' exited with code 3; restarting it in {d} s" for d in ("0.5", "1", "2", "2")
        ]
        assert services.restarts() == {"catalog": 4}
        # after a run longer than stable_s, the back-off starts again from initial_s
        now += 31
        assert services.supervise(now) == ["service 'catalog' exited with code 3; restarting it in 0.5 s"]
    finally:
        services.stop()


def test_service_processes_context_manager() -> None:
    with start_services(free_port_block(4), quiet=True, latency_ms=0) as services:
        pids = services.pids
        for url in services.urls.values():
            assert fetch(f"{url}/health")[0] == 200
        assert services.exited() == {}
    assert not any(is_running(pid) for pid in pids.values())


def test_a_service_that_cannot_start_is_named() -> None:
    base = free_port_block(4)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", base + 1))  # catalog's port
        blocker.listen()
        services = ServiceProcesses(base, quiet=True)
        with pytest.raises(
            ServiceStartError, match=r"service 'catalog' exited with code 1 during startup"
        ) as caught:
            services.start()
    assert "catalog: cannot listen on http://127.0.0.1:" in str(caught.value)
    assert all(process.poll() is not None for process in services.processes.values())
