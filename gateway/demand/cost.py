"""The static cost of an operation, from the schema's `@cost` and `@listSize` directives (the IBM/GraphQL cost
directive specification, as Apollo and Cosmo read it).

A field of an object, interface or union type costs 1, a scalar or enum field 0, unless `@cost(weight:)` on the
field (or on its type) says otherwise; an argument with `@cost` adds its weight when given; a mutation's root
field adds 10. A list field multiplies what it and its selection cost by its size: the largest slicing
argument given (`@listSize(slicingArguments: ["first"])`), else `@listSize(assumedSize:)`, else the default
list size. With `sizedFields`, the size applies to those child fields instead (a connection's `edges`).

    cost = static_cost(schema, document, operation, variables, default_list_size=10)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from graphql import (
    DirectiveNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)
from graphql.language import ValueNode

__all__ = ["MUTATION_COST", "ListSize", "static_cost"]

MUTATION_COST: Final = 10  # what the specification (and Apollo) adds for each root field of a mutation
_INTROSPECTION: Final = frozenset({"__schema", "__type"})  # bounded by the schema, not by the request


@dataclass(frozen=True, slots=True)
class ListSize:
    """A field's `@listSize`."""

    assumed_size: int | None = None
    slicing_arguments: tuple[str, ...] = ()
    sized_fields: tuple[str, ...] = ()


def static_cost(
    schema: GraphQLSchema,
    fragments: Mapping[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
    *,
    default_list_size: int,
) -> int:
    """What `operation` (of a validated document with these `fragments`) costs with these variable values."""
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    estimator = _Estimator(schema, fragments, variables, default_list_size)
    extra = MUTATION_COST if operation.operation == OperationType.MUTATION else 0
    return estimator.selection(operation.selection_set, root, (), 1, extra)


class _Estimator:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        default_list_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.default_list_size = default_list_size

    def selection(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        sized: tuple[str, ...],
        size: int,
        extra: int = 0,
    ) -> int:
        """The cost of a selection on `parent`; `sized` names the child fields that `size` applies to."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if name == "__typename":
                    continue
                if name in _INTROSPECTION:
                    total += 1
                    continue
                definition = _field(parent, name)
                if definition is None:  # validated documents have none; count nothing rather than fail
                    continue
                given = size if name in sized else None
                total += extra + self.field(selection, definition, given)
            else:
                if isinstance(selection, InlineFragmentNode):
                    inner_set = selection.selection_set
                    condition = selection.type_condition
                else:
                    assert isinstance(selection, FragmentSpreadNode)
                    fragment = self.fragments[selection.name.value]
                    inner_set, condition = fragment.selection_set, fragment.type_condition
                inner = self.schema.get_type(condition.name.value) if condition is not None else parent
                total += self.selection(inner_set, inner or parent, sized, size, extra)
        return total

    def field(self, node: FieldNode, definition: GraphQLField, given_size: int | None) -> int:
        named = get_named_type(definition.type)
        weight = _weight(definition.ast_node) or _weight(named.ast_node)
        cost = weight if weight is not None else (1 if is_composite_type(named) else 0)
        for argument in node.arguments or ():
            spec = definition.args.get(argument.name.value)
            if spec is not None:
                cost += _weight(spec.ast_node) or 0
        list_size = _list_size(definition)
        size = given_size if given_size is not None else self.size_of(node, list_size)
        inner_sized = list_size.sized_fields if list_size is not None else ()
        if node.selection_set is not None:
            child_size = size if inner_sized else 1
            cost += self.selection(node.selection_set, named, inner_sized, child_size)
        if _is_list(definition.type) and not inner_sized:
            cost *= size
        return cost

    def size_of(self, node: FieldNode, list_size: ListSize | None) -> int:
        if list_size is not None:
            given = [
                value
                for argument in node.arguments or ()
                if argument.name.value in list_size.slicing_arguments
                and (value := self.integer(argument.value)) is not None
            ]
            if given:
                return max(max(given), 0)
            if list_size.assumed_size is not None:
                return list_size.assumed_size
        return self.default_list_size

    def integer(self, value: ValueNode) -> int | None:
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            given = self.variables.get(value.name.value)
            return given if type(given) is int else None
        return None


def _field(parent: GraphQLNamedType, name: str) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return parent.fields.get(name)
    return None


def _is_list(type_: GraphQLOutputType) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _directive(node: Any, name: str) -> DirectiveNode | None:
    for directive in getattr(node, "directives", None) or ():
        if directive.name.value == name:
            found: DirectiveNode = directive
            return found
    return None


def _weight(node: Any) -> int | None:
    directive = _directive(node, "cost")
    if directive is None:
        return None
    for argument in directive.arguments or ():
        if argument.name.value == "weight" and isinstance(argument.value, IntValueNode):
            return int(argument.value.value)
    return None


def _list_size(definition: GraphQLField) -> ListSize | None:
    directive = _directive(definition.ast_node, "listSize")
    if directive is None:
        return None
    values: dict[str, Any] = {}
    for argument in directive.arguments or ():
        value = argument.value
        if isinstance(value, IntValueNode):
            values[argument.name.value] = int(value.value)
        elif hasattr(value, "values"):
            values[argument.name.value] = tuple(getattr(v, "value", "") for v in value.values)
    return ListSize(
        values.get("assumedSize"), values.get("slicingArguments", ()), values.get("sizedFields", ())
    )
