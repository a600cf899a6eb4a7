"""A reader that goes away (`funnel explain q.graphql | head -1`) ends the command quietly: exit 1, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNNEL = str(Path(sys.executable).with_name("funnel"))


def test_a_closed_stdout_is_no_traceback() -> None:
    config = ROOT / "examples" / "funnel.yaml"
    with subprocess.Popen(
        [FUNNEL, "explain", "--config", str(config), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as child:
        assert child.stdout is not None and child.stdin is not None and child.stderr is not None
        child.stdout.close()  # before it has written anything: its first write meets a closed pipe
        child.stdin.write(b"{ orders(first: 2) { id product { name } } }")
        child.stdin.close()
        error = child.stderr.read().decode()
        assert child.wait(timeout=60) == 1
    assert error == ""
