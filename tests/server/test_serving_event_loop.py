"""uvloop when it is installed, asyncio's own loop otherwise."""

from __future__ import annotations

import asyncio
import sys
import types

import pytest

from gateway.server.serving import event_loop_factory, run


class MarkedLoop(asyncio.SelectorEventLoop):
    pass


def test_uvloop_is_used_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", types.SimpleNamespace(new_event_loop=MarkedLoop))
    assert event_loop_factory() is MarkedLoop

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert run(loop_type()) is MarkedLoop


def test_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    # as if it were not installed: `import uvloop` raises ImportError
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert event_loop_factory() is None

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert issubclass(run(loop_type()), asyncio.BaseEventLoop)
