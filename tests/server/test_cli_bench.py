"""`funnel bench NAME [options]` runs `python -m benchmarks.NAME [options]`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("name", ["batching", "cache", "faults", "load", "overhead", "registry"])
def test_bench_passes_its_options_to_the_benchmark(name: str, tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gateway", "bench", name, "--help"],
        cwd=tmp_path,  # anywhere: the benchmarks are found in the checkout
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"usage: python -m benchmarks.{name}")
    assert "--quick" in completed.stdout and "--json PATH" in completed.stdout


def test_bench_names_the_benchmarks() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gateway", "bench", "nope"], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    assert (
        "invalid choice: 'nope' (choose from 'abuse', 'batching', 'cache', 'faults', 'load', 'overhead', 'peer',"
        " 'registry')" in completed.stderr
    )
