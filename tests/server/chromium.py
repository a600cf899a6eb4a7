"""Headless Chromium driven over the DevTools protocol (a websocket, with aiohttp): no Selenium, no downloads.

`async with chromium(profile_dir) as page:` gives a tab to `navigate`, `type_into`, `click` and `evaluate` in.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from ..processes import Child, start_child
from ..programs import require_program

__all__ = ["Page", "chromium"]

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)


class Page:
    """One browser tab: commands answered in order, events kept in `events`."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        command_id = next(self._ids)
        await self.socket.send_json({"id": command_id, "method": method, "params": params})
        async with asyncio.timeout(30):
            while True:
                message = await self.socket.receive_json()
                if message.get("id") == command_id:
                    if "error" in message:
                        raise AssertionError(f"{method}: {message['error']}")
                    result: dict[str, Any] = message["result"]
                    return result
                self.events.append(message)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        """The value of `expression` once it is truthy, polled."""
        async with asyncio.timeout(timeout):
            while not (value := await self.evaluate(expression)):
                await asyncio.sleep(0.05)
        return value

    async def navigate(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.wait_for(f"location.href === {url!r} && document.readyState === 'complete'")

    async def click(self, selector: str) -> None:
        """A real mouse click (press and release) in the middle of the element."""
        box = await self.evaluate(
            f"(() => {{ const e = document.querySelector({selector!r}); e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            await self.call(
                "Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1
            )

    async def type_into(self, selector: str, text: str) -> None:
        """Replace the field's text as typing would (input events included)."""
        await self.evaluate(
            f"document.querySelector({selector!r}).focus(), document.querySelector({selector!r}).select()"
        )
        await self.call("Input.insertText", text=text)


async def _devtools_port(user_data_dir: Path, browser: Child) -> int:
    """Chromium writes its port to DevToolsActivePort once it listens (we asked for a free one)."""
    marker = user_data_dir / "DevToolsActivePort"
    async with asyncio.timeout(30):
        while not marker.exists() or not marker.read_text().strip():
            if browser.process.returncode is not None:
                raise AssertionError(f"chromium exited with {browser.process.returncode}\n{browser.output()}")
            await asyncio.sleep(0.05)
    return int(marker.read_text().split()[0])


@contextlib.asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Page]:
    """A headless Chromium with a fresh profile in `profile`; its first tab. Stopped (with every helper
    process it started) on the way out."""
    browser_path = require_program(("chromium", "chromium-browser", "google-chrome"), "chromium")
    async with start_child(browser_path, *_FLAGS, f"--user-data-dir={profile}", "about:blank") as browser:
        port = await _devtools_port(profile, browser)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            (tab,) = [t for t in targets if t["type"] == "page"]
            async with http.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as socket:
                yield Page(socket)
