"""One `/metrics` for all the workers of `funnel serve --workers N`: prometheus-client's multiprocess mode.

The supervisor owns a temporary directory (`shared_metrics()`), named by `PROMETHEUS_MULTIPROC_DIR` before the
gateway makes any metric, and removed when it exits. Each worker's counters and histograms are files there, and
a scrape of any worker reads and sums every worker's files. What the gateway reads from its own state when scraped
(breakers, bulkheads, retry budgets, caches, shedding) has no file by itself: `StateMirror` copies it there, every
second and before each scrape — gauges summed over the live workers (a dead worker's are dropped), counters by
their increase (a dead worker's still count, as counters must).

Nothing here runs with one process: `shared_directory()` is None and the metrics stay in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, multiprocess, values
from prometheus_client.core import Metric

__all__ = [
    "MIRROR_INTERVAL_S",
    "MULTIPROC_ENV",
    "StateMirror",
    "shared_directory",
    "shared_metrics",
    "shared_registry",
    "worker_exited",
]

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own name for it
MIRROR_INTERVAL_S: Final = 1.0


@contextlib.contextmanager
def shared_metrics() -> Iterator[str]:
    """The directory every worker forked inside this block writes its metrics to; removed on exit."""
    directory = tempfile.mkdtemp(prefix="funnel-metrics-")
    before = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = directory
    # prometheus-client picks in-memory or file-backed values when it is imported: pick again, now.
    values.ValueClass = values.get_value_class()
    try:
        yield directory
    finally:
        if before is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = before
        values.ValueClass = values.get_value_class()
        shutil.rmtree(directory, ignore_errors=True)


def shared_directory() -> str | None:
    """The directory of `shared_metrics()` when this process is one of several workers, else None."""
    directory = os.environ.get(MULTIPROC_ENV)
    return directory if directory and os.path.isdir(directory) else None


def shared_registry(directory: str) -> CollectorRegistry:
    """A registry that reads every worker's files, for one scrape."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return registry


def worker_exited(directory: str, pid: int) -> None:
    """Drop a dead worker's gauges (its counters keep counting in the sums)."""
    multiprocess.mark_process_dead(pid, directory)


class StateMirror:
    """Copies the metric families of `collect` (read from the gateway's state) into this worker's files."""

    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect
        self._gauges: dict[str, Gauge] = {}
        self._counters: dict[str, Counter] = {}
        self._counted: dict[tuple[str, tuple[str, ...]], float] = {}

    def sync(self) -> None:
        for family in self._collect():
            if family.type == "gauge":
                self._gauges_of(family)
            elif family.type == "counter":
                self._counters_of(family)

    async def run(self) -> AsyncIterator[None]:
        """An aiohttp cleanup context: syncs every MIRROR_INTERVAL_S while the app runs."""

        async def loop() -> None:
            while True:
                self.sync()
                await asyncio.sleep(MIRROR_INTERVAL_S)

        task = asyncio.ensure_future(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _gauges_of(self, family: Metric) -> None:
        for sample in family.samples:
            names = tuple(sorted(sample.labels))
            gauge = self._gauges.get(family.name)
            if gauge is None:
                gauge = Gauge(
                    family.name, family.documentation, names, registry=None, multiprocess_mode="livesum"
                )
                self._gauges[family.name] = gauge
            (gauge.labels(*(sample.labels[n] for n in names)) if names else gauge).set(sample.value)

    def _counters_of(self, family: Metric) -> None:
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue  # `_created` and the like: not kept across processes
            names = tuple(sorted(sample.labels))
            counter = self._counters.get(family.name)
            if counter is None:
                counter = Counter(family.name, family.documentation, names, registry=None)
                self._counters[family.name] = counter
            label_values = tuple(sample.labels[n] for n in names)
            key = (family.name, label_values)
            increase = sample.value - self._counted.get(key, 0.0)
            self._counted[key] = sample.value
            child = counter.labels(*label_values) if names else counter  # made at 0: the series exists
            if increase > 0:  # a counter of the state that went back (a reset) is not undone
                child.inc(increase)
