"""README.md starts with exactly two commands for a fresh machine; .ci/run runs the second one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
DEMO = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/funnel demo"
TESTS = 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest'


def test_the_two_commands_at_the_top_of_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    top = readme[: readme.index("\n---\n")]
    assert re.findall(r"```sh\n(.*?)\n```", top, re.DOTALL) == [DEMO, TESTS]


def test_ci_runs_the_readme_test_command() -> None:
    lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert lines[-1] == TESTS
