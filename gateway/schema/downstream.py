"""The bindings checked against the real downstream schemas: what `funnel check` finds before a request would.

    problems = verify_bindings(gateway.schema, gateway.bindings.values(), {"catalog": catalog_schema})

For every binding to a GraphQL service whose schema is given: the root field it calls exists (on Query, or on
Mutation for a mutation), takes the list argument of the key's type (`@batch(field:)`) or the arguments the
gateway forwards (`@remote`), and returns the type; an `entity:` binding needs `_entities` and the entity type
with its `match` field; `select:` must be a field of what comes back. Then every field the gateway type forwards
to the service (all but those bound elsewhere) must exist downstream with a compatible type, and so on down the
types it reaches. Problems are `file:line: Type.field: message`, located at the gateway field concerned.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    get_named_type,
    is_leaf_type,
)
from graphql.language import get_location
from graphql.pyutils import Undefined

from registry.bindings import BatchBinding, Binding, FieldCoordinate, RemoteBinding, SourceLocation
from registry.errors import Problem

__all__ = ["DownstreamVerifier", "verify_bindings"]

_Fielded = GraphQLObjectType | GraphQLInterfaceType


def verify_bindings(
    schema: GraphQLSchema, bindings: Iterable[Binding], downstream: Mapping[str, GraphQLSchema]
) -> list[Problem]:
    """Every problem of `bindings` against the schemas of the services in `downstream` (name -> schema);
    bindings to other services are not looked at."""
    return DownstreamVerifier(schema, tuple(bindings)).verify(downstream)


@dataclass
class _Report:
    problems: list[Problem] = field(default_factory=list)
    _seen: set[tuple[str | None, int | None, str | None, str]] = field(default_factory=set)

    def add(self, location: SourceLocation | None, coordinate: str, message: str) -> None:
        problem = Problem(
            message, location.file if location else None, location.line if location else None, coordinate
        )
        key = (problem.file, problem.line, problem.coordinate, problem.message)
        if key not in self._seen:  # one type reached through several bindings is reported once
            self._seen.add(key)
            self.problems.append(problem)


class DownstreamVerifier:
    """The checks, overridable one by one; `verify` runs them all for the services given."""

    def __init__(self, schema: GraphQLSchema, bindings: tuple[Binding, ...]) -> None:
        self.schema = schema
        self.bindings = bindings
        self.bound = frozenset(b.coordinate for b in bindings)

    def verify(self, downstream: Mapping[str, GraphQLSchema]) -> list[Problem]:
        report = _Report()
        for binding in self.bindings:
            service_schema = downstream.get(getattr(binding, "service", ""))
            if service_schema is None:
                continue
            if isinstance(binding, RemoteBinding) and binding.path is None:
                self.remote(binding, service_schema, report)
            elif isinstance(binding, BatchBinding) and binding.field is not None:
                self.batch_field(binding, service_schema, report)
            elif isinstance(binding, BatchBinding) and binding.entity is not None:
                self.entity(binding, service_schema, report)
        return report.problems

    # -- one binding --------------------------------------------------------------------------------------

    def remote(self, binding: RemoteBinding, downstream: GraphQLSchema, report: _Report) -> None:
        service, where, coordinate = binding.service, binding.location, str(binding.coordinate)
        mutation = (
            self.schema.mutation_type is not None
            and binding.coordinate.type_name == self.schema.mutation_type.name
        )
        root = downstream.mutation_type if mutation else downstream.query_type
        kind = "Mutation" if mutation else "Query"
        remote = root.fields.get(binding.remote_field) if root is not None else None
        if root is None or remote is None:
            report.add(where, coordinate, f"{service} has no root field {kind}.{binding.remote_field}")
            return
        gateway_field = self._field(binding.coordinate)
        via = f"{service} {kind}.{binding.remote_field}"
        for message in self._argument_messages(gateway_field.args, remote.args, via):
            report.add(where, coordinate, message)
        self._compare(binding.coordinate, gateway_field.type, remote.type, via, service, where, report)

    def batch_field(self, binding: BatchBinding, downstream: GraphQLSchema, report: _Report) -> None:
        service, where, coordinate = binding.service, binding.location, str(binding.coordinate)
        assert binding.field is not None
        root = downstream.query_type
        remote = root.fields.get(binding.field) if root is not None else None
        if remote is None:
            report.add(where, coordinate, f"{service} has no root field Query.{binding.field}")
            return
        via = f"{service} Query.{binding.field}"
        argument = remote.args.get(binding.arg)
        if argument is None:
            arguments = ", ".join(remote.args) or "none"
            report.add(where, coordinate, f"{via} has no argument '{binding.arg}' (arguments: {arguments})")
        else:
            for message in self._key_argument_messages(binding, argument, via):
                report.add(where, coordinate, message)
        for name, other in remote.args.items():
            if name != binding.arg and _required(other):
                report.add(
                    where, coordinate, f"{via} requires argument '{name}', which the batch does not send"
                )
        returned = _unwrap_non_null(remote.type)
        if not isinstance(returned, GraphQLList):
            report.add(where, coordinate, f"{via} returns {remote.type}, not a list")
            return
        self._items(binding, get_named_type(returned), via, report)

    def entity(self, binding: BatchBinding, downstream: GraphQLSchema, report: _Report) -> None:
        service, where, coordinate = binding.service, binding.location, str(binding.coordinate)
        root = downstream.query_type
        if root is None or "_entities" not in root.fields:
            report.add(
                where, coordinate, f"{service} has no Query._entities: it is not a Federation subgraph"
            )
            return
        assert binding.entity is not None
        entity = downstream.get_type(binding.entity)
        if not isinstance(entity, GraphQLObjectType):
            report.add(where, coordinate, f"{service} has no entity type '{binding.entity}'")
            return
        self._items(binding, entity, f"{service} _entities({binding.entity})", report)

    # -- what they share ----------------------------------------------------------------------------------

    def _items(self, binding: BatchBinding, item: GraphQLNamedType, via: str, report: _Report) -> None:
        """The items a batch gets back: `match` on them, then `select` or the item itself as the value."""
        where, coordinate = binding.location, str(binding.coordinate)
        if not isinstance(item, _Fielded):
            report.add(where, coordinate, f"{via} returns {item.name}, not an object type")
            return
        if binding.match not in item.fields:
            report.add(
                where,
                coordinate,
                f"match '{binding.match}': {via} returns {item.name}, which has no field '{binding.match}'",
            )
        value: GraphQLType = item
        if binding.select is not None:
            selected = item.fields.get(binding.select)
            if selected is None:
                report.add(
                    where,
                    coordinate,
                    f"select '{binding.select}': {item.name} has no field '{binding.select}' in {via}",
                )
                return
            value = selected.type
        gateway_type = self._field(binding.coordinate).type
        if binding.select is None:
            # Items are matched to parents one by one (or gathered, one-to-many): compare the item types alone.
            self._compare_named(
                binding.coordinate, get_named_type(gateway_type), item, via, binding.service, where, report
            )
        else:
            self._compare(
                binding.coordinate,
                gateway_type,
                value,
                via,
                binding.service,
                where,
                report,
                nullability=False,
            )

    def _key_argument_messages(
        self, binding: BatchBinding, argument: GraphQLArgument, via: str
    ) -> Iterator[str]:
        listed = _unwrap_non_null(argument.type)
        if not isinstance(listed, GraphQLList):
            yield f"{via} argument '{binding.arg}' is {argument.type}, not a list of keys"
            return
        if binding.key is None:  # a key function: its type is whatever the function returns
            return
        parent = self.schema.get_type(binding.coordinate.type_name)
        key_type: GraphQLNamedType | None = parent if isinstance(parent, GraphQLNamedType) else None
        for segment in binding.key.split("."):
            fields = key_type.fields if isinstance(key_type, _Fielded) else {}
            key_type = get_named_type(fields[segment].type) if segment in fields else None
        item = get_named_type(listed)
        if key_type is not None and key_type.name != item.name:
            yield f"key '{binding.key}' is {key_type.name}, but {via} argument '{binding.arg}' is {argument.type}"

    def _argument_messages(
        self, gateway: Mapping[str, GraphQLArgument], remote: Mapping[str, GraphQLArgument], via: str
    ) -> Iterator[str]:
        for name, argument in gateway.items():
            theirs = remote.get(name)
            if theirs is None:
                yield f"{via} has no argument '{name}' (arguments: {', '.join(remote) or 'none'})"
            elif _shape(argument.type, nullability=False) != _shape(theirs.type, nullability=False):
                yield f"argument '{name}' is {argument.type} here, {theirs.type} in {via}"
            elif (
                _required(theirs)
                and not isinstance(argument.type, GraphQLNonNull)
                and argument.default_value is Undefined
            ):
                yield f"argument '{name}' is optional here but required ({theirs.type}) in {via}"
        for name, theirs in remote.items():
            if name not in gateway and _required(theirs):
                yield f"{via} requires argument '{name}' ({theirs.type}), which the gateway field does not declare"

    def _compare(
        self,
        coordinate: FieldCoordinate,
        gateway: GraphQLType,
        remote: GraphQLType,
        via: str,
        service: str,
        where: SourceLocation | None,
        report: _Report,
        *,
        nullability: bool = True,
    ) -> None:
        """A gateway field's type against the downstream type it is forwarded to."""
        if _shape(gateway, nullability=nullability) != _shape(remote, nullability=nullability) and not (
            nullability and _looser(gateway, remote)
        ):
            report.add(
                self._location(coordinate, where), str(coordinate), f"is {gateway} here, {remote} in {via}"
            )
            return
        self._compare_named(
            coordinate, get_named_type(gateway), get_named_type(remote), via, service, where, report
        )

    def _compare_named(
        self,
        coordinate: FieldCoordinate,
        gateway: GraphQLNamedType,
        remote: GraphQLNamedType,
        via: str,
        service: str,
        where: SourceLocation | None,
        report: _Report,
        seen: set[tuple[str, str]] | None = None,
    ) -> None:
        location = self._location(coordinate, where)
        if is_leaf_type(gateway) or is_leaf_type(remote):
            if gateway.name != remote.name:
                report.add(location, str(coordinate), f"is {gateway.name} here, {remote.name} in {via}")
            return
        if not isinstance(gateway, _Fielded) or not isinstance(remote, _Fielded):
            if gateway.name != remote.name:  # unions: their members are named by the service
                report.add(location, str(coordinate), f"is {gateway.name} here, {remote.name} in {via}")
            return
        seen = set() if seen is None else seen
        if (gateway.name, remote.name) in seen:
            return
        seen.add((gateway.name, remote.name))
        for name, gateway_field in gateway.fields.items():
            child = FieldCoordinate(gateway.name, name)
            if self._bound(gateway, name):
                continue  # resolved by its own binding, not by this service
            theirs = remote.fields.get(name)
            child_location = self._location(child, where)
            if theirs is None:
                report.add(
                    child_location,
                    str(child),
                    f"{service} has no field '{name}' on {remote.name}",
                )
                continue
            field_via = f"{service} {remote.name}.{name}"
            for message in self._argument_messages(gateway_field.args, theirs.args, field_via):
                report.add(child_location, str(child), message)
            if _shape(gateway_field.type) != _shape(theirs.type) and not _looser(
                gateway_field.type, theirs.type
            ):
                report.add(
                    child_location, str(child), f"is {gateway_field.type} here, {theirs.type} in {field_via}"
                )
                continue
            self._compare_named(
                child,
                get_named_type(gateway_field.type),
                get_named_type(theirs.type),
                field_via,
                service,
                where,
                report,
                seen,
            )

    def _bound(self, type_: _Fielded, name: str) -> bool:
        """Whether the field has a binding: on an interface, one on every implementation (the planner plans
        an interface's fields on each of them, e.g. a Federation `@interfaceObject`'s)."""
        if FieldCoordinate(type_.name, name) in self.bound:
            return True
        if not isinstance(type_, GraphQLInterfaceType):
            return False
        implementations = self.schema.get_possible_types(type_)
        return bool(implementations) and all(
            FieldCoordinate(t.name, name) in self.bound for t in implementations
        )

    def _field(self, coordinate: FieldCoordinate) -> GraphQLField:
        parent = self.schema.get_type(coordinate.type_name)
        assert isinstance(parent, _Fielded)  # validate_bindings has checked every coordinate
        return parent.fields[coordinate.field_name]

    def _location(
        self, coordinate: FieldCoordinate, fallback: SourceLocation | None
    ) -> SourceLocation | None:
        """The SDL line of the gateway field, where it has one."""
        parent = self.schema.get_type(coordinate.type_name)
        node = (
            parent.fields[coordinate.field_name].ast_node
            if isinstance(parent, _Fielded) and coordinate.field_name in parent.fields
            else None
        )
        if node is None or node.loc is None:
            return fallback
        return SourceLocation(node.loc.source.name, get_location(node.loc.source, node.loc.start).line)


def _unwrap_non_null(type_: GraphQLType) -> GraphQLType:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _shape(type_: GraphQLType, *, nullability: bool = True) -> str:
    """The wrappers around the named type, e.g. `[!]!`, or `[]` without nullability."""
    if isinstance(type_, GraphQLNonNull):
        return _shape(type_.of_type, nullability=nullability) + ("!" if nullability else "")
    if isinstance(type_, GraphQLList):
        return "[" + _shape(type_.of_type, nullability=nullability) + "]"
    return ""


def _looser(gateway: GraphQLType, remote: GraphQLType) -> bool:
    """The gateway's type is the service's with some non-nulls dropped: always safe to pass on."""
    if isinstance(remote, GraphQLNonNull):
        return _looser(gateway.of_type if isinstance(gateway, GraphQLNonNull) else gateway, remote.of_type)
    if isinstance(gateway, GraphQLNonNull):
        return False  # the gateway promises a value the service may leave null
    if isinstance(gateway, GraphQLList) or isinstance(remote, GraphQLList):
        return (
            isinstance(gateway, GraphQLList)
            and isinstance(remote, GraphQLList)
            and _looser(gateway.of_type, remote.of_type)
        )
    return True


def _required(argument: GraphQLArgument) -> bool:
    return isinstance(argument.type, GraphQLNonNull) and argument.default_value is Undefined
