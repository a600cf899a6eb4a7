"""The composed schema as SDL text: sorted and stable, so that a change of any service is a readable diff.

Roots first (Query, Mutation), then every other type by name, fields by name. A field a service answers says
which ones in a comment (`# catalog, reviews`), a field the gateway computes says `# gateway`; a bound field's
annotation says where it goes. The printer also records, for each line, where what it prints came from (the
gateway schema's line, a service in the config), so that a problem found in the composed text is reported
where it can be fixed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graphql import (
    DirectiveDefinitionNode,
    InterfaceTypeDefinitionNode,
    NamedTypeNode,
    NameNode,
    ObjectTypeDefinitionNode,
    UnionTypeDefinitionNode,
    print_ast,
)

from registry.bindings import SourceLocation

from .merge import MergedField, MergedType
from .sources import ROOTS

__all__ = ["PrintedSchema", "print_composed"]

PrintedSchema = tuple[str, dict[int, SourceLocation]]
"""The SDL text, and for each of its lines (from 1) where what it says came from."""


def print_composed(
    header: Sequence[str],
    types: Mapping[str, MergedType],
    roots: Mapping[str, Mapping[str, MergedField]],
    directives: Sequence[DirectiveDefinitionNode] = (),
) -> PrintedSchema:
    printer = _Printer()
    for line in header:
        printer.line(f"# {line}".rstrip())
    for root in ROOTS:
        if roots.get(root):
            printer.blank()
            printer.fields(f"type {root}", roots[root], None)
    for directive in sorted(directives, key=lambda d: d.name.value):
        printer.blank()
        printer.block(print_ast(directive), None)
    for name, merged in sorted(types.items()):
        printer.blank()
        node = merged.node
        if isinstance(node, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
            if node.description is not None:
                printer.block(print_ast(node.description), merged.origin)
            keyword = "type" if isinstance(node, ObjectTypeDefinitionNode) else "interface"
            interfaces = f" implements {' & '.join(sorted(merged.interfaces))}" if merged.interfaces else ""
            printer.fields(f"{keyword} {name}{interfaces}", merged.fields, merged.origin)
            continue
        if isinstance(node, UnionTypeDefinitionNode):
            members = tuple(NamedTypeNode(name=NameNode(value=m)) for m in sorted(merged.members))
            node = UnionTypeDefinitionNode(
                name=node.name, description=node.description, directives=node.directives, types=members
            )
        if merged.owners:
            printer.line(f"# {', '.join(merged.owners)}", merged.origin)
        printer.block(print_ast(node), merged.origin)
    return "\n".join(printer.lines) + "\n", printer.origins


class _Printer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.origins: dict[int, SourceLocation] = {}

    def line(self, text: str, origin: SourceLocation | None = None) -> None:
        self.lines.append(text)
        if origin is not None:
            self.origins[len(self.lines)] = origin

    def blank(self) -> None:
        if self.lines:
            self.lines.append("")

    def block(self, text: str, origin: SourceLocation | None, indent: str = "") -> None:
        for line in text.split("\n"):
            self.line(f"{indent}{line}" if line else "", origin)

    def fields(self, header: str, fields: Mapping[str, MergedField], origin: SourceLocation | None) -> None:
        self.line(f"{header} {{", origin)
        for _name, merged in sorted(fields.items()):
            text = print_ast(merged.node)
            if merged.service is None and merged.gateway is None:
                text += f"  # {', '.join(merged.owners)}"
            elif merged.gateway is not None and merged.service is None:
                text += "  # gateway"
            self.block(text, merged.origin, "  ")
        self.line("}", origin)
