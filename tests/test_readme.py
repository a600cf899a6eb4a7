"""Every code block in README.md that claims to run is run here, so that the README cannot drift from the code.

The convention (what a writer of README.md must know):

- Blocks fenced as ```python, ```console, ```sh (or ```bash, ```shell) claim to run, and are run:
  - **python**: the whole block is one script, run with this interpreter in a scratch folder that holds a copy of
    `examples/` whose services are running (on free ports). If the next block is marked `<!-- readme: output -->`
    on the line before its fence, the script's stdout must be exactly that block.
  - **console**: each line starting with `$ ` is a command (run by bash in the same scratch folder, `.venv/bin/`
    being this virtualenv's); the lines after it, up to the next `$ `, are its output (stdout and stderr), which
    must match exactly once the scratch folder is written as `/home/you/funnel`.
  - **sh**: run by bash in the scratch folder, with the gateway of `funnel demo` started by the test (its
    `127.0.0.1:4000` replaced by the port it got, the services' 4001-4004 by theirs), its registry on as the
    demo's is, with the write token in `$FUNNEL_REGISTRY_TOKEN`; it must exit 0.
- A block that claims to run but cannot be run here is marked, on the line right before its fence, with
  `<!-- readme: not run: the reason -->`, and the reason must be given.
- Blocks of other languages (graphql, yaml, json, text, none) show SDL, configuration or output: they are not run
  (the directive SDL block is compared with the code in tests/registry/test_annotations_sdl.py).

A new block that claims to run and does not fails this test, saying how to mark it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from examples.services.cluster import Cluster
from gateway.cli.demo import TOKEN_ENV, demo_registry
from gateway.gateway import Gateway
from gateway.server import create_app
from gateway.server.serving import listening
from registry.config import load_config

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUNS = frozenset({"python", "console", "sh", "bash", "shell"})
NOT_RUN = re.compile(r"<!-- readme: not run: (?P<reason>.*\S) -->")
OUTPUT = "<!-- readme: output -->"
SHOWN_ROOT = "/home/you/funnel"
TIMEOUT_S = 120
REGISTRY_TOKEN = "readme-registry-token"
SERVICE_PORTS = {"4001": "accounts", "4002": "catalog", "4003": "orders", "4004": "reviews"}


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    marker: str  # the line before the fence

    @property
    def where(self) -> str:
        return f"README.md:{self.line}: the ```{self.language} block"


def blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = re.fullmatch(r"```(\S*)\s*", lines[index])
        if fence is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        marker = lines[index - 1].strip() if index else ""
        found.append(Block(index + 1, fence[1], "\n".join(lines[index + 1 : end]) + "\n", marker))
        index = end + 1
    return found


def test_every_block_that_claims_to_run_is_run_or_says_why_not() -> None:
    for block in blocks(README.read_text()):
        if block.marker.startswith("<!-- readme: not run"):
            assert NOT_RUN.fullmatch(block.marker), (
                f"{block.where}: say why: <!-- readme: not run: the reason -->"
            )
            assert block.language in RUNS, f"{block.where} does not claim to run: it needs no marker"
        if block.marker == OUTPUT:
            assert block.language not in RUNS, f"{block.where}: an output block is not code (use ```text)"


@pytest.fixture
async def scratch(cluster: Cluster, tmp_path: Path) -> AsyncIterator[tuple[Path, dict[str, str]]]:
    """A folder like the checkout: examples/ (its services running here), .venv/bin; and where the sh blocks'
    URLs are moved: the gateway's (with the demo's registry) and the services' base URLs."""
    folder = tmp_path / "funnel"
    # The services' code is not needed (they run here), but files the config names are (OpenAPI documents).
    shutil.copytree(
        ROOT / "examples", folder / "examples", ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    (folder / ".venv").mkdir()
    (folder / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    config = folder / "examples" / "funnel.yaml"
    text = config.read_text()
    config.write_text(
        re.sub(r"http://127\.0\.0\.1:(400[1-4])\b", lambda m: cluster.urls[SERVICE_PORTS[m[1]]], text)
    )
    loaded = replace(load_config(config), registry=demo_registry("127.0.0.1", REGISTRY_TOKEN))
    app = create_app(Gateway.from_config(loaded))
    async with listening(app, "127.0.0.1", 0, shutdown_timeout_s=5) as url:
        moved = {f"http://127.0.0.1:{port}": cluster.urls[name] for port, name in SERVICE_PORTS.items()}
        yield folder, {"http://127.0.0.1:4000": url, **moved}


async def run(command: list[str], cwd: Path) -> tuple[int, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **{TOKEN_ENV: REGISTRY_TOKEN})
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(TIMEOUT_S):
            out, _ = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return -1, f"(still running after {TIMEOUT_S} s)"
    assert process.returncode is not None
    return process.returncode, out.decode()


def how_to_mark(block: Block) -> str:
    return (
        f"\n{block.where} does not run as written. Fix the block (or the code), or, if it cannot run in the test "
        "suite, put `<!-- readme: not run: the reason -->` on the line right before its fence "
        "(see tests/test_readme.py)."
    )


def console_steps(text: str) -> list[tuple[str, str]]:
    steps: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], ""))
        else:
            assert steps, f"console output before any command: {line!r}"
            command, output = steps[-1]
            steps[-1] = (command, output + line + "\n")
    return steps


async def test_the_readme_blocks_run_as_written(scratch: tuple[Path, dict[str, str]]) -> None:
    folder, urls = scratch
    assert await run_blocks(README.read_text(), folder, urls) >= 4  # the tour's blocks, curl, Python


async def test_a_new_block_that_does_not_run_fails_saying_how_to_mark_it(
    scratch: tuple[Path, dict[str, str]],
) -> None:
    folder, urls = scratch
    text = "Some prose.\n\n```sh\necho trying; exit 3\n```\n"
    with pytest.raises(AssertionError) as caught:
        await run_blocks(text, folder, urls)
    assert str(caught.value).startswith(
        "trying\n\nREADME.md:3: the ```sh block does not run as written. Fix the block (or the code), or, if it "
        "cannot run in the test suite, put `<!-- readme: not run: the reason -->` on the line right before its fence"
    )
    marked = "Some prose.\n<!-- readme: not run: it needs a machine of its own -->\n```sh\nexit 3\n```\n"
    assert await run_blocks(marked, folder, urls) == 0
    console = "```console\n$ echo hello\nhullo\n```\n"
    with pytest.raises(AssertionError) as caught:
        await run_blocks(console, folder, urls)
    assert str(caught.value).startswith(
        "$ echo hello\nhello\n\nREADME.md:1: the ```console block does not run"
    )


async def run_blocks(text: str, folder: Path, urls: Mapping[str, str]) -> int:
    """Run every block of `text` that claims to run (see the module's docstring), the sh blocks with each URL of
    `urls` moved to its value; how many ran."""
    found = blocks(text)
    ran = 0
    for index, block in enumerate(found):
        if block.language not in RUNS or block.marker.startswith("<!-- readme: not run"):
            continue
        ran += 1
        if block.language == "python":
            script = folder / f"readme_{block.line}.py"
            script.write_text(block.text)
            code, output = await run([sys.executable, str(script)], folder)
            if code != 0:
                raise AssertionError(f"{output}{how_to_mark(block)}")
            following = found[index + 1] if index + 1 < len(found) else None
            if following is not None and following.marker == OUTPUT and output != following.text:
                raise AssertionError(f"{how_to_mark(block)}\nits output:\n{output}")
        elif block.language == "console":
            for command, expected in console_steps(block.text):
                code, output = await run(["bash", "-c", command], folder)
                shown = output.replace(str(folder), SHOWN_ROOT)
                if shown != expected:
                    raise AssertionError(f"$ {command}\n{shown}{how_to_mark(block)}")
        else:
            shell = re.sub(r"http://127\.0\.0\.1:400[0-4]\b", lambda m: urls.get(m[0], m[0]), block.text)
            code, output = await run(["bash", "-c", shell], folder)
            if code != 0:
                raise AssertionError(f"{output}{how_to_mark(block)}")
            if not output.strip():
                raise AssertionError(f"no output{how_to_mark(block)}")
    return ran
