"""Field collection of the GraphQL specification (CollectFields, DoesFragmentTypeApply) with `@skip`/`@include`.

The planner decides `@skip`/`@include` at plan time: a plan is made for one set of values of the variables
they read (`condition_variables`), and the plan cache's key says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionNode,
    SelectionSetNode,
    VariableNode,
    Visitor,
    is_abstract_type,
    visit,
)

from .errors import PlanError

__all__ = [
    "FieldCollector",
    "collect_fields",
    "condition_variables",
    "does_fragment_type_apply",
    "should_include",
]


def collect_fields(
    schema: GraphQLSchema,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    runtime_type: GraphQLObjectType,
    selection_sets: Sequence[SelectionSetNode],
) -> dict[str, list[FieldNode]]:
    """The fields of these selection sets for an object of `runtime_type`, grouped by response key, in order."""
    return FieldCollector(schema, fragments, variables).collect(runtime_type, selection_sets)


@dataclass(frozen=True, slots=True)
class FieldCollector:
    """CollectFields over one operation's fragments, for one set of variable values."""

    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]

    def collect(
        self, runtime_type: GraphQLObjectType, selection_sets: Sequence[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        fields: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()
        for selection_set in selection_sets:
            self._collect(runtime_type, selection_set.selections, fields, visited)
        return fields

    def _collect(
        self,
        runtime_type: GraphQLObjectType,
        selections: Iterable[SelectionNode],
        fields: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selections:
            if not should_include(selection, self.variables):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition.name.value if selection.type_condition else None
                if does_fragment_type_apply(self.schema, condition, runtime_type):
                    self._collect(runtime_type, selection.selection_set.selections, fields, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in visited:
                    continue
                visited.add(name)
                fragment = self.fragments.get(name)
                if fragment is not None and does_fragment_type_apply(
                    self.schema, fragment.type_condition.name.value, runtime_type
                ):
                    self._collect(runtime_type, fragment.selection_set.selections, fields, visited)


def does_fragment_type_apply(
    schema: GraphQLSchema, condition: str | None, runtime_type: GraphQLObjectType
) -> bool:
    if condition is None or condition == runtime_type.name:
        return True
    condition_type = schema.get_type(condition)
    return is_abstract_type(condition_type) and schema.is_sub_type(
        cast(GraphQLAbstractType, condition_type), runtime_type
    )


def should_include(node: SelectionNode, variables: Mapping[str, Any]) -> bool:
    """False when `@skip(if: true)` or `@include(if: false)`; an explicit null for `if` is a PlanError."""
    for directive in node.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            continue
        value = next((a.value for a in directive.arguments or () if a.name.value == "if"), None)
        if isinstance(value, VariableNode):
            variable = value.name.value
            if variable in variables and variables[variable] is None:
                raise PlanError(
                    f"Argument 'if' has invalid value: Expected variable '${variable}' provided to non-null"
                    " type 'Boolean!' not to be None.",
                    value,
                    execution=True,
                )
            condition = bool(variables.get(variable))
        else:
            condition = isinstance(value, BooleanValueNode) and value.value
        if condition == (name == "skip"):
            return False
    return True


def condition_variables(document: DocumentNode) -> tuple[str, ...]:
    """The variables read by `@skip`/`@include` anywhere in the document: a plan depends on their values."""
    names: list[str] = []

    class _Conditions(Visitor):
        def enter_directive(self, node: Any, *_: Any) -> None:
            if node.name.value in ("skip", "include"):
                for argument in node.arguments:
                    if isinstance(argument.value, VariableNode) and argument.value.name.value not in names:
                        names.append(argument.value.name.value)

    visit(document, _Conditions())
    return tuple(sorted(names))
