"""The selection forwarded to a service: plain data, built while planning, printed into downstream queries.

Response keys downstream are not the client's aliases but canonical keys chosen by the planner (the field name,
or the name and a number when the field has arguments), so that the same field asked under several aliases or
through several paths is fetched once, and keys the gateway needs for itself (private aliases) never collide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ForwardedField",
    "Selection",
    "SelectionBuilder",
    "merge_selections",
    "path_steps",
    "print_selection",
    "step_field",
    "step_key",
]


@dataclass(frozen=True, slots=True)
class ForwardedField:
    key: str
    name: str
    arguments: str = ""  # printed, e.g. "(first: $n)"
    selection: Selection | None = None

    def print(self) -> str:
        head = self.name if self.key == self.name else f"{self.key}: {self.name}"
        head += self.arguments
        if self.selection is None:
            return head
        return f"{head} {print_selection(self.selection)}"


@dataclass(frozen=True, slots=True)
class Selection:
    fields: tuple[ForwardedField, ...] = ()
    fragments: tuple[
        tuple[str, Selection], ...
    ] = ()  # inline fragments on concrete types of an abstract type

    @property
    def is_empty(self) -> bool:
        return not self.fields and not self.fragments


def print_selection(selection: Selection) -> str:
    """`{ a b: c(x: 1) { d } ... on T { e } }` — one line, the form sent downstream."""
    parts = [f.print() for f in selection.fields]
    parts += [
        f"... on {type_name} {print_selection(sub)}"
        for type_name, sub in selection.fragments
        if not sub.is_empty
    ]
    return "{ " + " ".join(parts) + " }" if parts else "{ }"


def merge_selections(selections: Iterable[Selection]) -> Selection:
    """One selection asking for everything each of these asks (a key in several is merged, not repeated)."""
    builder = SelectionBuilder()
    for selection in selections:
        builder.add(selection)
    return builder.freeze()


class SelectionBuilder:
    """Accumulates a selection while planning; the same key added twice is merged, not repeated."""

    __slots__ = ("_fields", "_fragments")

    def __init__(self) -> None:
        self._fields: dict[str, tuple[str, str, SelectionBuilder | None]] = {}
        self._fragments: dict[str, SelectionBuilder] = {}

    def add_leaf(self, key: str, name: str, arguments: str = "") -> None:
        self._fields.setdefault(key, (name, arguments, None))

    def add_object(self, key: str, name: str, arguments: str = "") -> SelectionBuilder:
        entry = self._fields.get(key)
        if entry is None or entry[2] is None:
            entry = (name, arguments, SelectionBuilder())
            self._fields[key] = entry
        assert entry[2] is not None
        return entry[2]

    def on_type(self, type_name: str) -> SelectionBuilder:
        fragment = self._fragments.get(type_name)
        if fragment is None:
            fragment = self._fragments[type_name] = SelectionBuilder()
        return fragment

    def add(self, selection: Selection) -> None:
        """Everything `selection` asks for, merged into what is here."""
        for field in selection.fields:
            if field.selection is None:
                self.add_leaf(field.key, field.name, field.arguments)
            else:
                self.add_object(field.key, field.name, field.arguments).add(field.selection)
        for type_name, sub in selection.fragments:
            self.on_type(type_name).add(sub)

    def keys(self) -> set[str]:
        return set(self._fields)

    def freeze(self) -> Selection:
        return Selection(
            tuple(
                ForwardedField(key, name, arguments, None if sub is None else sub.freeze())
                for key, (name, arguments, sub) in self._fields.items()
            ),
            tuple((type_name, sub.freeze()) for type_name, sub in self._fragments.items()),
        )


# -- paths of fields (a Federation field set, read: `login organization { id }`, `price(currency: "EUR")`) --------


def path_steps(path: str) -> list[str]:
    """`a.b(x: 1.5).c` -> `["a", "b(x: 1.5)", "c"]`: a dot inside a step's arguments does not end it."""
    steps: list[str] = []
    depth, quoted, start = 0, False, 0
    for index, char in enumerate(path):
        if quoted:
            quoted = char != '"' or path[index - 1] == "\\"
        elif char == '"':
            quoted = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "." and depth == 0:
            steps.append(path[start:index])
            start = index + 1
    steps.append(path[start:])
    return steps


def step_field(step: str) -> tuple[str, str]:
    """A step's field name and its printed arguments: `("price", '(currency: "EUR")')`, or `("id", "")`."""
    name, paren, rest = step.partition("(")
    return name, paren + rest


def step_key(step: str) -> str:
    """Where a step's value is asked for downstream: its name, or, with arguments, a key of its own derived from
    them (the same in every plan, so that what reads it back need not be told)."""
    name, arguments = step_field(step)
    if not arguments:
        return name
    return f"_r{hashlib.sha256(step.encode()).hexdigest()[:10]}"
