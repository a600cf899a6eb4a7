"""The static cost of an operation, from the schema's `@cost` and `@listSize` directives (the IBM/GraphQL cost
directive specification, as Apollo and Cosmo read it).

A field of an object, interface or union type costs 1, a scalar or enum field 0, unless `@cost(weight:)` on the
field (or on its type) says otherwise; an argument with `@cost` adds its weight when given; a mutation's root
field adds 10. A list field multiplies what it and its selection cost by its size: the largest slicing
argument given (`@listSize(slicingArguments: ["first"])`), else `@listSize(assumedSize:)`, else the default
list size. With `sizedFields`, the size applies to those child fields instead (a connection's `edges`).

The actual cost is counted on the answer with the same weights: each object that came back costs its field's
weight, so a list costs what its items cost, however long the estimate thought it would be; a null costs
nothing.

    cost = static_cost(schema, fragments, operation, variables, default_list_size=10)
    spent = actual_cost(schema, fragments, operation, result.data)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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

__all__ = ["MUTATION_COST", "ListSize", "actual_cost", "static_cost"]

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


def actual_cost(
    schema: GraphQLSchema,
    fragments: Mapping[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    data: Any,
) -> int:
    """What the answer `data` to `operation` cost, counted with the weights that `static_cost` uses."""
    root = schema.get_root_type(operation.operation)
    if root is None or not isinstance(data, Mapping):
        return 0
    extra = MUTATION_COST if operation.operation == OperationType.MUTATION else 0
    return _Counter(schema, fragments).selection(operation.selection_set, root, data, extra)


class _Counter:
    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.schema = schema
        self.fragments = fragments

    def selection(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        value: Mapping[str, Any],
        extra: int = 0,
    ) -> int:
        total = 0
        for node, on in _fields(self.schema, self.fragments, selection_set, parent):
            name = node.name.value
            key = node.alias.value if node.alias is not None else name
            if key not in value:  # skipped, or in a fragment on another type than this object's
                continue
            if name in _INTROSPECTION:
                total += 1
                continue
            definition = _field(on, name)
            if definition is not None:
                each = extra + _field_weight(node, definition)
                total += self.value(node, get_named_type(definition.type), value[key], each)
        return total

    def value(self, node: FieldNode, named: GraphQLNamedType, value: Any, each: int) -> int:
        if value is None:
            return 0
        if isinstance(value, list):
            return sum(self.value(node, named, item, each) for item in value)
        if node.selection_set is None or not isinstance(value, Mapping):
            return each
        return each + self.selection(node.selection_set, named, value)


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
        for node, on in _fields(self.schema, self.fragments, selection_set, parent):
            name = node.name.value
            if name in _INTROSPECTION:
                total += 1
                continue
            definition = _field(on, name)
            if definition is None:  # validated documents have none; count nothing rather than fail
                continue
            given = size if name in sized else None
            total += extra + self.field(node, definition, given)
        return total

    def field(self, node: FieldNode, definition: GraphQLField, given_size: int | None) -> int:
        named = get_named_type(definition.type)
        cost = _field_weight(node, definition)
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


def _field_weight(node: FieldNode, definition: GraphQLField) -> int:
    """What one value of the field costs, before its selection: its (or its type's) weight, and its arguments'."""
    named = get_named_type(definition.type)
    weight = _weight(definition.ast_node) or _weight(named.ast_node)
    cost = weight if weight is not None else (1 if is_composite_type(named) else 0)
    for argument in node.arguments or ():
        spec = definition.args.get(argument.name.value)
        if spec is not None:
            cost += _weight(spec.ast_node) or 0
    return cost


def _fields(
    schema: GraphQLSchema,
    fragments: Mapping[str, FragmentDefinitionNode],
    selection_set: SelectionSetNode,
    parent: GraphQLNamedType,
) -> Iterator[tuple[FieldNode, GraphQLNamedType]]:
    """Each field of a selection but `__typename` (which costs nothing), fragments entered, with the type it
    is selected on."""
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value != "__typename":
                yield selection, parent
        else:
            inner_set, inner = _fragment(schema, fragments, selection, parent)
            yield from _fields(schema, fragments, inner_set, inner)


def _fragment(
    schema: GraphQLSchema,
    fragments: Mapping[str, FragmentDefinitionNode],
    selection: Any,
    parent: GraphQLNamedType,
) -> tuple[SelectionSetNode, GraphQLNamedType]:
    """An inline fragment's or a spread fragment's selection, and the type it is on."""
    if isinstance(selection, InlineFragmentNode):
        inner_set, condition = selection.selection_set, selection.type_condition
    else:
        assert isinstance(selection, FragmentSpreadNode)
        fragment = fragments[selection.name.value]
        inner_set, condition = fragment.selection_set, fragment.type_condition
    inner = schema.get_type(condition.name.value) if condition is not None else None
    return inner_set, inner or parent


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
