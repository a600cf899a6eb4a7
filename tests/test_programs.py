"""tests/programs.py's `require_program` on a machine without the program: found on PATH wherever it is, installed
through apt-get when running as root, else the test is skipped with the one line that installs it."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from tests import programs
from tests.programs import require_program

CHMOD = shutil.which("chmod")  # found before a test empties PATH


def executable(path: Path, script: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def bare_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH is one empty folder: no chromium, no apt-get."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.setattr(programs, "_LOCK", tmp_path / "apt.lock")
    return folder


def test_missing_and_not_root_skips_with_the_install_line(
    bare_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    executable(bare_path / "apt-get", "#!/bin/sh\necho should not run >&2\nexit 1\n")
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_program(("chromium", "chromium-browser"), "chromium")
    assert (
        str(skipped.value)
        == "chromium is not on PATH: install it with `apt-get install -y chromium` (Debian)"
    )


def test_missing_as_root_without_apt_get_skips(bare_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_program(("redis-server",), "redis-server")
    assert str(skipped.value) == (
        "redis-server is not on PATH: install it with `apt-get install -y redis-server` (Debian)"
    )


def test_found_on_path_under_any_of_its_names(bare_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    browser = executable(bare_path / "chromium-browser")
    assert require_program(("chromium", "chromium-browser"), "chromium") == str(browser)


@pytest.mark.skipif(sys.platform != "linux", reason="apt-get installs only on Linux")
def test_missing_as_root_installs_the_debian_package(
    bare_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    log = bare_path.parent / "apt.log"
    # A stand-in apt-get: records its arguments; `install` puts the program on PATH, as Debian's package would.
    executable(
        bare_path / "apt-get",
        f'#!/bin/sh\necho "$@" >> {log}\n'
        f'if [ "$1" = install ]; then printf "#!/bin/sh\\n" > {bare_path}/chromium; {CHMOD} +x {bare_path}/chromium; fi\n',
    )
    assert require_program(("chromium",), "chromium") == str(bare_path / "chromium")
    assert log.read_text() == "update -q\ninstall -y -q chromium\n"
    # installed once: the next test finds it without apt-get
    assert require_program(("chromium",), "chromium") == str(bare_path / "chromium")
    assert log.read_text().count("install") == 1
