"""Configuration from the environment: `${VAR}` and `${VAR:-default}` inside the YAML's values, and
`FUNNEL_<SECTION>__<KEY>` variables that set any value of the file (`FUNNEL_SERVER__PORT=8080`,
`FUNNEL_SERVICES__CATALOG__URL=http://...`).

Both work on the YAML node tree before any value is checked, so that a value is checked, and built, the same
whichever way it came in. The nodes they fill are remembered (`Origins`): a message about such a value names the
variable, never its value, which may be a token, a password or a URL with credentials.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Final

import yaml
from yaml.resolver import Resolver

from .errors import Problem

__all__ = ["ENV_PREFIX", "Origins", "interpolate", "overlay"]

ENV_PREFIX: Final = "FUNNEL_"
_SEPARATOR: Final = "__"
_STR_TAG: Final = "tag:yaml.org,2002:str"
_MAP_TAG: Final = "tag:yaml.org,2002:map"
# `$${` is a literal `${`; `${...}` a reference; a `${` without its `}` a mistake.
_REFERENCE: Final = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_BODY: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
_RESOLVER: Final = Resolver()


@dataclass(slots=True)
class Origins:
    """The nodes whose value came from the environment, with what a message shows instead of the value."""

    # id(node) -> (node, what to show); the node is held so that its id is not reused.
    _shown: dict[int, tuple[yaml.Node, str]] = field(default_factory=dict)
    # id(node) -> the FUNNEL_* variable that made it (such a node has no line in the file)
    _variables: dict[int, str] = field(default_factory=dict)

    def shown(self, node: yaml.Node) -> str | None:
        """What to print for this node's value, when it came from the environment."""
        entry = self._shown.get(id(node))
        return entry[1] if entry is not None else None

    def variable(self, node: yaml.Node) -> str | None:
        """The FUNNEL_* variable a node was made from (None for a node written in the file)."""
        return self._variables.get(id(node))

    def _mark(self, node: yaml.Node, shown: str, variable: str | None = None) -> None:
        self._shown[id(node)] = (node, shown)
        if variable is not None:
            self._variables[id(node)] = variable


def interpolate(root: yaml.Node, environ: Mapping[str, str], file: str, origins: Origins) -> list[Problem]:
    """Fill every `${VAR}` / `${VAR:-default}` of the values under `root` in place; the problems found
    (an unset variable without a default, a malformed reference), each with its file and line."""
    problems: list[Problem] = []
    seen: set[int] = set()

    def visit(node: yaml.Node, coordinate: str) -> None:
        if id(node) in seen:  # an alias: the anchored node is filled once
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                visit(value, f"{coordinate}.{name}" if coordinate else name)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                visit(item, f"{coordinate}[{index}]")
        elif isinstance(node, yaml.ScalarNode) and "${" in node.value:
            _fill(node, coordinate)

    def _fill(node: yaml.ScalarNode, coordinate: str) -> None:
        written = node.value
        failed = False

        def replace(match: re.Match[str]) -> str:
            nonlocal failed
            text = match.group(0)
            if text == "$${":
                return "${"
            reference = _BODY.fullmatch(match.group(1) or "") if match.group(1) is not None else None
            if reference is None:
                failed = True
                problems.append(
                    Problem(
                        f"{text} is not a variable reference: write ${{NAME}} or ${{NAME:-default}}"
                        " (and $${ for a literal ${)",
                        file,
                        node.start_mark.line + 1,
                        coordinate or None,
                    )
                )
                return text
            name, default = reference.group(1), reference.group(2)
            value = environ.get(name)
            if value is None or (value == "" and default is not None):
                if default is not None:
                    return default
                failed = True
                problems.append(
                    Problem(
                        f"the environment variable {name} is not set (write ${{{name}:-default}} to give"
                        " it a default)",
                        file,
                        node.start_mark.line + 1,
                        coordinate or None,
                    )
                )
                return text
            return value

        filled = _REFERENCE.sub(replace, written)
        if failed:
            return
        node.value = filled
        if (
            node.style is None
        ):  # a plain scalar is typed by what it says once filled: `port: ${PORT}` is an int
            node.tag = _RESOLVER.resolve(yaml.ScalarNode, filled, (True, False))
        origins._mark(node, f"{written!r} from the environment")

    visit(root, "")
    return problems


def overlay(
    root: yaml.MappingNode, environ: Mapping[str, str], sections: Collection[str], origins: Origins
) -> list[Problem]:
    """Set, in the tree, the value of every `FUNNEL_<SECTION>__<KEY>...` variable whose first part names a
    top-level key in `sections` (other FUNNEL_* variables belong to other tools and are left alone).

    Names match keys case-insensitively, `_` matching `-` (`FUNNEL_SERVICES__USER_API__URL` sets the service
    `user-api`); a key the file lacks is added (lower-case), so a service may come from the environment alone.
    A value starting with `[` or `{` is YAML flow syntax (`[authorization, x-tenant]`); any other value is
    typed as a plain YAML scalar would be (`8080` a number, `true` a boolean)."""
    problems: list[Problem] = []
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX):
            continue
        parts = variable[len(ENV_PREFIX) :].lower().split(_SEPARATOR)
        if parts[0] not in sections:
            continue
        if not all(parts):
            problems.append(Problem(f"{variable}: an empty name between '{_SEPARATOR}' separators"))
            continue
        value = _value(variable, environ[variable], origins)
        if value is None:
            problems.append(
                Problem(f"{variable}: its value starts like YAML flow syntax ([...] or {{...}}) but is not")
            )
            continue
        mapping = root
        for part in parts[:-1]:
            mapping = _child_mapping(mapping, part, variable, origins)
        _set(mapping, parts[-1], value, variable, origins)
    return problems


def _value(variable: str, text: str, origins: Origins) -> yaml.Node | None:
    if text.lstrip().startswith(("[", "{")):
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            return None
        if node is None:
            return None
        _mark_all(node, variable, origins)
        return node
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    scalar = yaml.ScalarNode(tag, text, _mark_of(variable), _mark_of(variable))
    origins._mark(scalar, f"the value of {variable}", variable)
    return scalar


def _mark_all(node: yaml.Node, variable: str, origins: Origins) -> None:
    node.start_mark = node.end_mark = _mark_of(variable)
    origins._mark(node, f"the value of {variable}", variable)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _mark_all(key, variable, origins)
            _mark_all(value, variable, origins)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _mark_all(item, variable, origins)


def _mark_of(variable: str) -> yaml.Mark:
    return yaml.Mark(variable, 0, -1, 0, "", 0)


def _same(key: yaml.Node, part: str) -> bool:
    return isinstance(key, yaml.ScalarNode) and key.value.lower().replace("-", "_") == part


def _find(mapping: yaml.MappingNode, part: str) -> int | None:
    """The index of the last pair whose key is `part` (the one YAML keeps), merge keys aside."""
    found = None
    for index, (key, _value) in enumerate(mapping.value):
        if _same(key, part):
            found = index
    return found


def _key(part: str, variable: str, origins: Origins) -> yaml.ScalarNode:
    key = yaml.ScalarNode(_STR_TAG, part, _mark_of(variable), _mark_of(variable))
    origins._mark(key, part, variable)
    return key


def _child_mapping(mapping: yaml.MappingNode, part: str, variable: str, origins: Origins) -> yaml.MappingNode:
    index = _find(mapping, part)
    if index is not None:
        key, value = mapping.value[index]
        if isinstance(value, yaml.MappingNode):
            return value
        # Not a mapping (null, say): the variable's section replaces it.
        child = yaml.MappingNode(_MAP_TAG, [], key.start_mark, key.end_mark)
        mapping.value[index] = (key, child)
        return child
    child = yaml.MappingNode(_MAP_TAG, [], _mark_of(variable), _mark_of(variable))
    mapping.value.append((_key(part, variable, origins), child))
    return child


def _set(mapping: yaml.MappingNode, part: str, value: yaml.Node, variable: str, origins: Origins) -> None:
    index = _find(mapping, part)
    if index is None:
        mapping.value.append((_key(part, variable, origins), value))
    else:
        mapping.value[index] = (mapping.value[index][0], value)
