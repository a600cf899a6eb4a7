"""The instructions of a Dockerfile's stages, read as the builder reads them: comments dropped, continued lines
joined, `ARG`s substituted, exec-form (JSON) arguments parsed. Enough to run what the image would run."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Instruction", "Stage", "stages"]


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ENV, ...
    arguments: str  # as written, continuations joined

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form ENTRYPOINT / CMD / HEALTHCHECK CMD."""
        text = self.arguments
        if self.keyword == "HEALTHCHECK":
            text = text[text.index("CMD") + len("CMD") :]
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
        return value


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def last(self, keyword: str) -> Instruction:
        found = [i for i in self.instructions if i.keyword == keyword]
        assert found, f"no {keyword} in the stage FROM {self.base}"
        return found[-1]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """Every ENV of the stage (KEY=value form), values with `$VAR` of earlier ones substituted."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.arguments):
                key, _, value = pair.partition("=")
                values[key] = re.sub(r"\$(\w+)", lambda m: values.get(m[1], f"${m[1]}"), value)
        return values


def stages(path: Path) -> list[Stage]:
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    args: dict[str, str] = {}
    found: list[Stage] = []
    for line in lines:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        arguments = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), arguments.strip())
        if keyword == "ARG" and not found:
            name, _, default = arguments.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = arguments.split()
            found.append(Stage(words[0], words[2] if len(words) == 3 and words[1].upper() == "AS" else None))
        else:
            found[-1].instructions.append(Instruction(keyword, arguments))
    return found
