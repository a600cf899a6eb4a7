"""A Federation field set (`@key(fields:)`, `@requires(fields:)`, `@provides(fields:)`) as dotted paths.

    field_paths("login organization { id }")   # ("login", "organization.id")
    field_paths('price(currency: "EUR")')      # ('price(currency: "EUR")',)

Funnel carries a field set as the paths of its leaves (steps split by instrumentation.selection.path_steps, a
step with arguments asked under a key of its own: step_key): the planner selects each path in the parent's
call, and a representation is built by reading them back into nested objects, under the fields' names. Aliases,
fragments and directives in a field set are refused: composition never writes them into the keys and
requirements that the planner reads.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import FieldNode, GraphQLSyntaxError, SelectionSetNode, parse, print_ast

__all__ = ["FieldSetError", "field_paths"]


class FieldSetError(ValueError):
    """The field set cannot be read as paths; the message says why."""


def field_paths(field_set: str) -> tuple[str, ...]:
    try:
        document = parse("{" + field_set + "}", no_location=True)
    except GraphQLSyntaxError as error:
        raise FieldSetError(f'the field set "{field_set}" is not valid: {error.message}') from None
    operation = document.definitions[0]
    selection_set = getattr(operation, "selection_set", None)
    assert isinstance(selection_set, SelectionSetNode)
    paths = tuple(_paths(selection_set, (), field_set))
    if not paths:
        raise FieldSetError(f'the field set "{field_set}" is empty')
    return paths


def _paths(selection_set: SelectionSetNode, prefix: tuple[str, ...], field_set: str) -> Iterator[str]:
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.alias or selection.directives:
            raise FieldSetError(
                f'the field set "{field_set}" has an alias, fragment or directive: not planned yet'
            )
        step = selection.name.value
        if selection.arguments:
            step += "(" + ", ".join(print_ast(argument) for argument in selection.arguments) + ")"
        path = (*prefix, step)
        if selection.selection_set is None:
            yield ".".join(path)
        else:
            yield from _paths(selection.selection_set, path, field_set)
