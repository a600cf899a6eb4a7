"""@apollo/gateway as a reference to hold Funnel to: installed once into scripts/federation/node_modules (npm, the
versions scripts/federation/package.json pins; reused while they match) and run by
scripts/federation/apollo_gateway.mjs as a child process over a supergraph and the URLs of its subgraphs.

    reason = install_apollo()          # None when ready, else why it cannot run (no node, npm offline, ...)
    async with apollo_gateway(supergraph, urls) as url: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Final

from ..processes import start_child

__all__ = ["SCRIPTS", "apollo_gateway", "install_apollo", "missing_packages", "required"]

SCRIPTS: Final = Path(__file__).parents[2] / "scripts" / "federation"
INSTALL_TIMEOUT_S: Final = 180
# npm retries an unreachable registry for minutes by default: offline, the tests are to say so soon.
NPM_INSTALL: Final = (
    "install",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    "--fetch-retries=1",
    "--fetch-retry-mintimeout=1000",
    "--fetch-retry-maxtimeout=5000",
    "--fetch-timeout=30000",
)
HEAD: Final = 4  # lines of npm's errors kept in a reason: the code and the request that failed


def missing_packages(folder: Path = SCRIPTS) -> list[str]:
    """The dependencies of folder/package.json that its node_modules lacks, or holds at another version."""
    wanted: dict[str, str] = json.loads((folder / "package.json").read_text())["dependencies"]
    missing = []
    for name, version in wanted.items():
        manifest = folder / "node_modules" / name / "package.json"
        try:
            installed = json.loads(manifest.read_text()).get("version")
        except (OSError, ValueError):
            installed = None
        if installed != version:
            missing.append(f"{name}@{version}")
    return missing


def install_apollo(folder: Path = SCRIPTS) -> str | None:
    """Installs folder/package.json's packages unless they are there already; None when ready, otherwise the
    reason they are not. Two pytest runs in one checkout take turns (a lock in node_modules)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return f"no {'node' if node is None else 'npm'} on PATH: the differential test needs Node and npm"
    if not missing_packages(folder):
        return None
    (folder / "node_modules").mkdir(exist_ok=True)
    with open(folder / "node_modules" / ".funnel-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = missing_packages(folder)
        if not missing:
            return None
        print(f"installing {', '.join(missing)} into {folder / 'node_modules'} (npm install, once)")
        try:
            done = subprocess.run(
                [npm, *NPM_INSTALL],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return f"npm install in {folder} took over {INSTALL_TIMEOUT_S} s (offline?)"
        if done.returncode != 0:
            output = "; ".join((done.stderr or done.stdout).strip().splitlines()[:HEAD])
            return f"npm install in {folder} failed ({done.returncode}; offline?): {output}"
    still = missing_packages(folder)
    return f"npm install left out {', '.join(still)}" if still else None


@contextlib.asynccontextmanager
async def apollo_gateway(supergraph: Path, urls: Mapping[str, str]) -> AsyncIterator[str]:
    """@apollo/gateway serving `supergraph`, its subgraphs at `urls` (name -> URL): its /graphql URL. Stopped by
    closing its stdin (its process group is killed too, whatever happens)."""
    script = SCRIPTS / "apollo_gateway.mjs"
    argv = ["node", str(script), str(supergraph), json.dumps(dict(urls))]
    async with start_child(*argv, cwd=SCRIPTS, stdin=asyncio.subprocess.PIPE) as child:
        url = (await child.read_until("apollo gateway listening on ", timeout=60)).split()[-1]
        try:
            yield url
        finally:
            assert child.process.stdin is not None
            child.process.stdin.close()
            with contextlib.suppress(AssertionError):  # killed with its group by start_child regardless
                await child.exit_code(timeout=10)


def required() -> bool:
    """Whether a missing Apollo fails the test instead of skipping it (CI sets FUNNEL_REQUIRE_APOLLO=1)."""
    return os.environ.get("FUNNEL_REQUIRE_APOLLO") == "1"
