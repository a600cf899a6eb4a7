"""Fixtures every integration test folder shares: the example services in-process, and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from examples.services.cluster import Cluster, run_cluster


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    """The four example services on loopback (port 0 each, fresh seeded databases), stopped after the test."""
    async with run_cluster() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
