"""Authorization applied before planning: the fields a caller may not read are taken out of the operation, so
nothing is fetched for them, and after execution each one is null with an `UNAUTHORIZED` error at its path
(non-null propagation included); the rest of the answer is intact.

A removed field leaves `__typename` under its response key in the document: the answer then carries that key
exactly on the objects the field applied to (a fragment on one type of a union applies to some items only),
which is where the null and the error go.

    access = Access(schema)
    restricted = access.restrict(prepared, identity)       # None: nothing to remove
    result = await gateway.run(restricted.prepared, ...)
    restricted.apply(result)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)

from instrumentation.collect_fields import condition_variables
from instrumentation.errors import ErrorCode

from ..schema.documents import LRUCache, PreparedDocument
from .identity import Identity
from .policy import AccessPolicy, Requirement, decide

__all__ = ["Access", "Restricted"]

_VARIANTS_PER_DOCUMENT: Final = 16  # distinct sets of decisions one query text meets
_DERIVED_KEY: Final = "access"


@dataclass(frozen=True, slots=True)
class _Step:
    key: str  # the response key
    type: GraphQLOutputType  # the field's type


@dataclass(frozen=True, slots=True)
class _Removed:
    steps: tuple[_Step, ...]  # from the root to the removed field
    coordinate: str
    reason: str
    node: FieldNode


@dataclass(slots=True)
class Restricted:
    """The operation as this caller may run it, and what to put back into the answer."""

    prepared: PreparedDocument
    removed: tuple[_Removed, ...]

    def apply(self, data: dict[str, Any] | None, errors: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Null each removed field in `data` with an error in `errors` (first, as they come first in the
        operation); returns the data, which is None when a null reached the root."""
        own: list[dict[str, Any]] = []
        for removed in self.removed:
            if data is None:
                break
            message = f"Not authorized to read {removed.coordinate}: {removed.reason}."
            error = GraphQLError(message, removed.node, extensions={"code": ErrorCode.UNAUTHORIZED})
            _, invalid = _null(data, removed.steps, [], error.formatted, own)
            if invalid:
                data = None
        errors[:0] = own
        return data


def _null(
    value: Any,
    steps: tuple[_Step, ...],
    path: list[str | int],
    error: Mapping[str, Any],
    out: list[dict[str, Any]],
) -> tuple[Any, bool]:
    """`value` (an object the first step applies to) with the removed field nulled; True when the null must
    propagate to the object's own place."""
    if not isinstance(value, dict) or steps[0].key not in value:
        return value, False  # a fragment that did not apply to this object
    step = steps[0]
    if len(steps) == 1:
        value[step.key] = None
        out.append({**error, "path": [*path, step.key]})
        return value, isinstance(step.type, GraphQLNonNull)
    inner, invalid = _through(value[step.key], step.type, [*path, step.key], steps[1:], error, out)
    value[step.key] = inner
    return (None, True) if invalid else (value, False)


def _through(
    value: Any,
    type_: GraphQLOutputType,
    path: list[str | int],
    steps: tuple[_Step, ...],
    error: Mapping[str, Any],
    out: list[dict[str, Any]],
) -> tuple[Any, bool]:
    """A field's value of `type_` after the removal below it; True when it became null and `type_` is non-null."""
    non_null = isinstance(type_, GraphQLNonNull)
    inner_type = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if value is None:
        return None, False
    if isinstance(inner_type, GraphQLList):
        if not isinstance(value, list):
            return value, False
        for index, item in enumerate(value):
            new, invalid = _through(item, inner_type.of_type, [*path, index], steps, error, out)
            if invalid:
                return None, non_null
            value[index] = new
        return value, False
    new, invalid = _null(value, steps, path, error, out)
    if invalid:
        return None, non_null
    return new, False


@dataclass(slots=True)
class _Sites:
    """Every field of one query text that has a requirement, with where it is, found once per text."""

    sites: list[tuple[tuple[_Step, ...], str, Requirement, FieldNode]] = field(default_factory=list)
    variants: LRUCache[tuple[str | None, ...], PreparedDocument] = field(
        default_factory=lambda: LRUCache(_VARIANTS_PER_DOCUMENT)
    )


class Access:
    """The schema's access policy applied to prepared documents; free when the schema has none."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self.policy = AccessPolicy.of(schema)

    @property
    def active(self) -> bool:
        return bool(self.policy.fields)

    def restrict(self, prepared: PreparedDocument, identity: Identity) -> Restricted | None:
        """The document without what `identity` may not read, or None when it may read everything asked.

        The rewritten document (and so its plans) is cached per query text and per set of decisions, so that
        a plan made for one caller's rights never serves another's."""
        document = prepared.document
        if not self.active or document is None:
            return None
        sites = prepared.derived.get(_DERIVED_KEY)
        if not isinstance(sites, _Sites):
            sites = prepared.derived[_DERIVED_KEY] = _Sites(list(_find(self.schema, self.policy, document)))
        if not sites.sites:
            return None
        reasons = tuple(decide(identity, requirement) for _, _, requirement, _ in sites.sites)
        if all(reason is None for reason in reasons):
            return None
        removed = tuple(
            _Removed(steps, coordinate, reason, node)
            for (steps, coordinate, _, node), reason in zip(sites.sites, reasons, strict=True)
            if reason is not None
        )
        variant = sites.variants.get(reasons)
        if variant is None:
            nodes = {id(r.node) for r in removed}
            rewritten = _rewrite(document, nodes)
            plans: LRUCache[tuple[Any, ...], Any] = LRUCache(prepared.plans.maxsize, prepared.plans.totals)
            # Same version and text: should a schema swap make the gateway prepare it again from the text, the
            # removed fields are fetched but `apply` still nulls them: nothing the caller may not see is shown.
            variant = PreparedDocument(
                rewritten,
                [],
                condition_variables(rewritten),
                plans,
                prepared.held_bytes,
                version=prepared.version,
                query=prepared.query,
            )
            sites.variants.put(reasons, variant)
        return Restricted(variant, removed)


def _find(
    schema: GraphQLSchema, policy: AccessPolicy, document: DocumentNode
) -> list[tuple[tuple[_Step, ...], str, Requirement, FieldNode]]:
    """Each field with a requirement, once per place it is reached (fragments followed where spread); below a
    field with a requirement nothing more is looked at: the whole subtree goes with it."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    found: list[tuple[tuple[_Step, ...], str, Requirement, FieldNode]] = []

    def walk(selection_set: SelectionSetNode, parent: GraphQLNamedType, steps: tuple[_Step, ...]) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                definition = getattr(parent, "fields", {}).get(selection.name.value)
                if definition is None:  # __typename, introspection
                    continue
                key = selection.alias.value if selection.alias else selection.name.value
                here = (*steps, _Step(key, definition.type))
                requirement = policy.requirement(parent.name, selection.name.value)
                if not requirement.empty:
                    found.append((here, f"{parent.name}.{selection.name.value}", requirement, selection))
                elif selection.selection_set is not None:
                    walk(selection.selection_set, get_named_type(definition.type), here)
            else:
                if isinstance(selection, InlineFragmentNode):
                    inner, condition = selection.selection_set, selection.type_condition
                else:
                    assert isinstance(selection, FragmentSpreadNode)
                    fragment = fragments[selection.name.value]
                    inner, condition = fragment.selection_set, fragment.type_condition
                typed = schema.get_type(condition.name.value) if condition is not None else parent
                walk(inner, typed or parent, steps)

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            root = schema.get_root_type(definition.operation)
            if root is not None:
                walk(definition.selection_set, root, ())
    return found


def _rewrite(document: DocumentNode, removed: set[int]) -> DocumentNode:
    """`document` with each removed field node replaced by `__typename` under the same response key."""

    def selection_set(node: SelectionSetNode) -> SelectionSetNode:
        selections = []
        for selection in node.selections:
            if isinstance(selection, FieldNode) and id(selection) in removed:
                key = selection.alias.value if selection.alias else selection.name.value
                selection = FieldNode(alias=NameNode(value=key), name=NameNode(value="__typename"))
            elif (inner := getattr(selection, "selection_set", None)) is not None:
                selection = _copy(selection, selection_set=selection_set(inner))
            selections.append(selection)
        return SelectionSetNode(selections=tuple(selections), loc=node.loc)

    definitions = [
        _copy(d, selection_set=selection_set(d.selection_set))
        if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
        else d
        for d in document.definitions
    ]
    return DocumentNode(definitions=tuple(definitions), loc=document.loc)


def _copy(node: Any, **changes: Any) -> Any:
    fields = {key: getattr(node, key) for key in node.keys}
    return type(node)(**{**fields, **changes})
