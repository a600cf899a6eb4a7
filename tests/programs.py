"""Programs the tests run that are not Python packages (Chromium, redis-server): found on PATH.

The README's test command must pass on a fresh machine by itself: when a program is missing and the tests run as
root on Debian, they install its Debian package once (as `.ci/run` does beforehand); otherwise the tests that need
it are skipped, saying the one line that installs it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

__all__ = ["require_program"]

_LOCK = Path(tempfile.gettempdir()) / "funnel-tests-apt.lock"


def require_program(names: Sequence[str], package: str) -> str:
    """The path of the first of `names` on PATH, installing Debian's `package` first if none is there and that
    is possible here; skips the calling test (with the install line) when it is not."""
    found = _which(names)
    if found is not None:
        return found
    if _can_install():
        # One install at a time, even across concurrent pytest runs on the machine.
        with _LOCK.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            found = _which(names)
            if found is None:
                _install(package)
                found = _which(names)
        if found is not None:
            return found
    pytest.skip(f"{names[0]} is not on PATH: install it with `apt-get install -y {package}` (Debian)")


def _which(names: Sequence[str]) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def _can_install() -> bool:
    return sys.platform == "linux" and os.geteuid() == 0 and shutil.which("apt-get") is not None


def _install(package: str) -> None:
    print(f"\ninstalling Debian's {package} for the tests (apt-get)", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", package]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
