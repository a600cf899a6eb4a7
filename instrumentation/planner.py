"""From a validated operation and the field bindings, a plan: which service answers what, at which level.

The planner walks the operation once (spec vocabulary: it *collects fields* per runtime type, honouring
fragments, aliases and `@skip`/`@include`). Every field under a root `@remote` field is forwarded to that
service, except fields bound to another source: a `@batch` field becomes (or joins) a batch fetch one level
deeper, whose parents are the objects at the current path and whose key is added to the parent's downstream
selection; `@gateway.resolver` and `@gateway.loader` fields add their required fields the same way. While
walking, the planner also compiles the projection that shapes the response (instrumentation.projection).

`@skip`/`@include` are decided at plan time (instrumentation.collect_fields): a plan is made for one set of values
of the variables they read, and the cache key says so (see PlanCache). What differs between kinds of source is
asked of the source (instrumentation.sources): the planner itself has no branch on a protocol.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLAbstractType,
    GraphQLField,
    GraphQLInputType,
    GraphQLLeafType,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    Visitor,
    get_named_type,
    get_operation_ast,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    print_ast,
    visit,
)

from registry.bindings import (
    BatchBinding,
    Binding,
    FieldCoordinate,
    LoaderBinding,
    RemoteBinding,
    ResolverBinding,
)
from registry.subgraph import SubgraphFacts

from .collect_fields import FieldCollector
from .errors import PlanError
from .level_merge import merge_levels
from .plan import (
    BatchFetch,
    BatchRequest,
    Fetch,
    Introspection,
    ParentPath,
    PathStep,
    Plan,
    RestArgument,
    RootFetch,
)
from .projection import (
    Completer,
    FieldInfo,
    ObjectField,
    Projection,
    abstract_completer,
    guard,
    leaf_completer,
    list_completer,
    non_null,
    object_completer,
    precompleted_completer,
    resolver_completer,
    typename_completer,
)
from .selection import SelectionBuilder, path_steps, print_selection, step_field, step_key
from .sources import Source, default_sources, source_name

__all__ = ["INTROSPECTION_KEY", "Planner", "plan_operation"]

# Where the executor puts the locally answered introspection fields in the merged root data. Not a valid GraphQL
# name, so no downstream key can be equal to it.
INTROSPECTION_KEY = "<introspection>"


def plan_operation(
    schema: GraphQLSchema,
    bindings: Mapping[FieldCoordinate, Binding],
    protocols: Mapping[str, str],
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> Plan:
    """Plan one operation of a validated document for the given (coerced) variable values."""
    return Planner(schema, bindings, protocols).plan(document, operation_name, variables or {})


class Planner:
    """Plans operations against one schema and one set of bindings. Stateless between plans; subclass to change
    how a single aspect is planned."""

    def __init__(
        self,
        schema: GraphQLSchema,
        bindings: Mapping[FieldCoordinate, Binding],
        protocols: Mapping[str, str],
        sources: Mapping[str, Source] | None = None,
        *,
        merge_levels: bool = True,
        latency: Callable[[], Mapping[str, float]] | None = None,
        subgraphs: Mapping[str, SubgraphFacts] | None = None,
    ) -> None:
        """`protocols`: each service's protocol (`graphql`, `rest`); `sources`: the sources by name.
        `merge_levels`: move fetches into a later call to the same service where that costs no time
        (instrumentation.level_merge), judged by the service latencies `latency` gives at planning time.
        `subgraphs`: what each Federation subgraph's own schema says (the types its documents may name, what
        it `@provides`); a service not in it has the whole gateway schema."""
        self.schema = schema
        self.bindings = bindings
        self.protocols = protocols
        self.subgraphs: Mapping[str, SubgraphFacts] = subgraphs or {}
        self.sources = default_sources() if sources is None else sources
        self.merge_levels = merge_levels
        self.latency = latency
        self.in_process = frozenset(name for name, source in self.sources.items() if source.in_process)

    def plan(self, document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any]) -> Plan:
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            raise PlanError(
                f"Unknown operation named '{operation_name}'."
                if operation_name
                else "Must provide operation name."
            )
        plan = _PlanBuilder(self, document, operation, variables).build()
        if not self.merge_levels:
            return plan
        latency = self.latency() if self.latency is not None else None
        return merge_levels(plan, in_process=self.in_process, latency_ms=latency)


@dataclasses.dataclass(eq=False)
class _Fetch:
    """A fetch while it is being planned (mutable); frozen into a RootFetch or BatchFetch at the end."""

    id: int
    service: str
    source: Source
    level: int
    selection: SelectionBuilder
    variables: set[str] = dataclasses.field(default_factory=set)
    depends_on: set[int] = dataclasses.field(default_factory=set)
    # root fetches
    root_keys: list[str] = dataclasses.field(default_factory=list)
    path: str = ""
    arguments: tuple[RestArgument, ...] = ()
    method: str = "GET"
    items: str | None = None
    expects: Literal["object", "list", "value"] = "object"
    # batch fetches
    binding: BatchBinding | LoaderBinding | None = None
    storage: str = ""  # where each parent receives the value: the field's name, or its canonical key
    paths: list[ParentPath] = dataclasses.field(default_factory=list)
    one_to_many: bool = False
    key_type: str = "[ID!]!"


@dataclasses.dataclass(frozen=True, slots=True)
class _Position:
    """Where the planner stands: the fetch that answers the objects here, the selection being built for them,
    and the path to them in the merged data."""

    owner: _Fetch
    selection: SelectionBuilder
    steps: tuple[PathStep, ...]
    # Paths below here that the owner's service answers although another one resolves them (`@provides`).
    provided: frozenset[str] = frozenset()

    def step(
        self, key: str, selection: SelectionBuilder, provided: frozenset[str] = frozenset()
    ) -> _Position:
        """One field deeper, in the same fetch."""
        return _Position(self.owner, selection, (*self.steps, PathStep(key)), provided)

    def of_type(self, type_name: str) -> _Position:
        """The objects here of one concrete type (below an interface or union)."""
        last = dataclasses.replace(self.steps[-1], type_condition=type_name)
        return _Position(
            self.owner, self.selection.on_type(type_name), (*self.steps[:-1], last), self.provided
        )

    def provides(self, name: str) -> bool:
        return any(path == name or path.startswith(name + ".") for path in self.provided)


class _PlanBuilder:
    def __init__(
        self,
        planner: Planner,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = planner.schema
        self.bindings = planner.bindings
        self.protocols = planner.protocols
        self.subgraphs = planner.subgraphs
        self.sources = planner.sources
        self.operation = operation
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.document = document
        self.collector = FieldCollector(self.schema, self.fragments, variables)
        self.fetches: list[_Fetch] = []
        self.batch_fetches: dict[tuple[Hashable, ...], _Fetch] = {}
        self.canonical: dict[tuple[str, str], str] = {}
        self.canonical_used: set[str] = set()
        self.private_count = 0

    # -- the operation --------------------------------------------------------------------------------------

    def build(self) -> Plan:
        kind = self.operation.operation
        if kind == OperationType.SUBSCRIPTION:
            raise PlanError("Subscriptions are not supported by this gateway.")
        root_type = self.schema.mutation_type if kind == OperationType.MUTATION else self.schema.query_type
        if root_type is None:
            raise PlanError(f"Schema is not configured for {kind.value}s.")
        operation: Literal["query", "mutation"] = "mutation" if kind == OperationType.MUTATION else "query"
        shared: dict[str, _Fetch] = {}  # root fields to one GraphQL service that share one call
        introspection: list[FieldNode] = []
        fields: list[ObjectField] = []
        for response_key, nodes in self.collect_fields(root_type, [self.operation.selection_set]).items():
            name = nodes[0].name.value
            if name == "__typename":
                fields.append((response_key, "__typename", typename_completer(root_type.name)))
            elif name in ("__schema", "__type"):
                introspection.extend(nodes)
                fields.append((response_key, INTROSPECTION_KEY, _introspected(response_key)))
            else:
                fields.append(self.plan_root_field(root_type, response_key, nodes, operation, shared))
        projection = Projection(object_completer(root_type.name, fields, None))
        return Plan(
            operation=operation,
            fetches=self.freeze(operation),
            variable_definitions={
                d.variable.name.value: print_ast(d.type)
                + (f" = {print_ast(d.default_value)}" if d.default_value else "")
                for d in self.operation.variable_definitions or ()
            },
            projection=projection,
            introspection=(
                Introspection(self.introspection_document(introspection), INTROSPECTION_KEY)
                if introspection
                else None
            ),
            canonical_keys=dict(self.canonical),
        )

    def plan_root_field(
        self,
        root_type: GraphQLObjectType,
        response_key: str,
        nodes: list[FieldNode],
        operation: Literal["query", "mutation"],
        shared: dict[str, _Fetch],
    ) -> ObjectField:
        name = nodes[0].name.value
        binding = self.bindings.get(FieldCoordinate(root_type.name, name))
        if not isinstance(binding, RemoteBinding):
            raise PlanError(f"{root_type.name}.{name} has no @remote annotation: no service answers it.")
        field_def = root_type.fields[name]
        source = self.sources[source_name(binding, self.protocol(binding.service))]
        arguments, used = self.print_arguments(nodes[0])
        if source.selects:
            # A query's root fields to one service share a call; a mutation's, when they follow one another:
            # the service runs a document's mutation fields in order, so the order across services holds.
            fetch = shared.get(binding.service)
            if fetch is None:
                fetch = self.new_fetch(binding.service, source, 0)
                if operation == "mutation":
                    shared.clear()
                shared[binding.service] = fetch
            key = self.canonical_key(binding.remote_field, arguments)
            fetch.variables |= used
            selection = self.add_field(fetch.selection, field_def.type, key, binding.remote_field, arguments)
        else:
            fetch = self.new_fetch(binding.service, source, 0)
            if operation == "mutation":
                shared.clear()
            fetch.path = binding.path or ""
            fetch.method = binding.method or ("POST" if operation == "mutation" else "GET")
            fetch.items = binding.items
            fetch.expects = _shape(field_def)
            fetch.arguments = tuple(
                RestArgument(a.name.value, a.value, cast(GraphQLInputType, field_def.args[a.name.value].type))
                for a in nodes[0].arguments or ()
            )
            key = self.canonical_key(name, arguments)
            selection = fetch.selection
        fetch.root_keys.append(key)
        info = self.field_info(root_type, nodes)
        provided = self.provided(fetch.service, root_type.name, name, frozenset())
        at = _Position(fetch, selection, (PathStep(key),), provided)
        completer = self.completer(field_def.type, nodes, at, info)
        return (response_key, key, completer)

    # -- fields and values ----------------------------------------------------------------------------------

    def completer(
        self, type_: GraphQLOutputType, nodes: list[FieldNode], at: _Position, info: FieldInfo
    ) -> Completer:
        """The completer of one position (a field or a list item) of this type, null handling included."""
        nullable = not is_non_null_type(type_)
        inner_type = type_ if nullable else cast(GraphQLNonNull[Any], type_).of_type
        if is_leaf_type(inner_type):
            return leaf_completer(cast(GraphQLLeafType, inner_type), info, nullable=nullable)
        if is_list_type(inner_type):
            inner = list_completer(self.completer(inner_type.of_type, nodes, at, info), info)
        elif is_object_type(inner_type):
            object_type = cast(GraphQLObjectType, inner_type)
            inner = object_completer(object_type.name, self.object_fields(object_type, nodes, at), info)
        else:
            inner = self.abstract(cast(GraphQLAbstractType, inner_type), nodes, at, info)
        return guard(inner) if nullable else non_null(inner, info)

    def abstract(
        self, abstract_type: GraphQLAbstractType, nodes: list[FieldNode], at: _Position, info: FieldInfo
    ) -> Completer:
        if not at.owner.source.selects:
            protocol = self.protocols.get(at.owner.service, "local")
            raise PlanError(
                f"{info.parent_type}.{info.field_name}: an interface or union needs a GraphQL source to tell the"
                f" types apart, but service '{at.owner.service}' is {protocol}."
            )
        at.selection.add_leaf("__typename", "__typename")
        by_type: dict[str, Completer] = {}
        possible = self.schema.get_possible_types(abstract_type)
        facts = self.subgraphs.get(at.owner.service)
        if facts is not None:  # a subgraph's document names only its own types; it returns no others here
            own = facts.object_types(abstract_type.name, frozenset(t.name for t in possible))
            possible = [t for t in possible if t.name in own]
        for object_type in possible:
            fields = self.object_fields(object_type, nodes, at.of_type(object_type.name))
            by_type[object_type.name] = object_completer(object_type.name, fields, info)
        known = frozenset(name for name, t in self.schema.type_map.items() if is_object_type(t))
        others = frozenset(self.schema.type_map) - known
        return abstract_completer(abstract_type.name, by_type, known, info, others)

    def object_fields(
        self, object_type: GraphQLObjectType, nodes: list[FieldNode], at: _Position
    ) -> list[ObjectField]:
        sub_selections = [n.selection_set for n in nodes if n.selection_set is not None]
        fields: list[ObjectField] = []
        for response_key, field_nodes in self.collect_fields(object_type, sub_selections).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                fields.append((response_key, "__typename", typename_completer(object_type.name)))
                continue
            field_def = object_type.fields[name]
            info = self.field_info(object_type, field_nodes)
            binding = _for_parent(self.bindings.get(FieldCoordinate(object_type.name, name)), at.owner)
            if _answered_in_parent_call(binding, at.owner) or at.provides(name):
                binding = None  # passed through in the parent's call
            if isinstance(binding, BatchBinding | LoaderBinding):
                fields.append(self.batched_field(binding, field_def, field_nodes, response_key, at, info))
            elif isinstance(binding, ResolverBinding):
                fields.append(self.computed_field(binding, field_def, field_nodes, response_key, at, info))
            else:
                fields.append(self.passed_through(field_def, field_nodes, response_key, at, info))
        return fields

    def passed_through(
        self,
        field_def: GraphQLField,
        nodes: list[FieldNode],
        response_key: str,
        at: _Position,
        info: FieldInfo,
    ) -> ObjectField:
        """A field the owner's service answers itself: forwarded under its canonical key."""
        name = nodes[0].name.value
        if at.owner.source.selects:
            arguments, used = self.print_arguments(nodes[0])
            at.owner.variables |= used
            key = self.canonical_key(name, arguments)
        else:
            arguments, key = "", name
        sub = self.add_field(at.selection, field_def.type, key, name, arguments)
        provided = self.provided(at.owner.service, info.parent_type, name, at.provided)
        return (response_key, key, self.completer(field_def.type, nodes, at.step(key, sub, provided), info))

    def provided(self, service: str, type_name: str, name: str, inherited: frozenset[str]) -> frozenset[str]:
        """The paths below the field `name` that its service answers with it: what the position above passes
        down, and what the service `@provides` on this field."""
        below = {p[len(name) + 1 :] for p in inherited if p.startswith(name + ".")}
        facts = self.subgraphs.get(service)
        if facts is not None:
            below.update(facts.provides.get(FieldCoordinate(type_name, name), ()))
        return frozenset(below)

    def computed_field(
        self,
        binding: ResolverBinding,
        field_def: GraphQLField,
        nodes: list[FieldNode],
        response_key: str,
        at: _Position,
        info: FieldInfo,
    ) -> ObjectField:
        """A field computed in the gateway from its parent: its required fields join the parent's selection."""
        self.require(at, binding.requires)
        computed = resolver_completer(binding.function, self.completer(field_def.type, nodes, at, info), info)
        return (response_key, None, computed if is_non_null_type(field_def.type) else guard(computed))

    def batched_field(
        self,
        binding: BatchBinding | LoaderBinding,
        field_def: GraphQLField,
        nodes: list[FieldNode],
        response_key: str,
        at: _Position,
        info: FieldInfo,
    ) -> ObjectField:
        """A field resolved for all parents of a level at once: the parents' keys join a batch fetch."""
        after: list[_Fetch] = []
        carried = binding.requires
        if isinstance(binding, BatchBinding) and not binding.same_call:
            after, carried = self.require_planned(binding, at)
        storage, arguments = binding.coordinate.field_name, ""
        if isinstance(binding, BatchBinding) and binding.entity is not None and nodes[0].arguments:
            # An entity field's arguments go into its `_entities` selection; each set of them is a fetch of its
            # own (they share one `_entities` call), stored under the field's canonical key.
            arguments, used = self.print_arguments(nodes[0])
            storage = self.canonical_key(storage, arguments)
        fetch = self.batch_fetch(binding, field_def, at.owner, after, storage)
        if arguments:
            fetch.variables |= used
        if isinstance(binding, LoaderBinding) or binding.key_function is not None:
            self.require(at, carried)
            key_path: tuple[str, ...] = ()
        else:
            key_path = self.key_reader(binding.key_path, at)
        parent_path = ParentPath(at.steps, key_path)
        if parent_path not in fetch.paths:  # the same field under two aliases: one set of parents
            fetch.paths.append(parent_path)
        item = fetch.selection
        if isinstance(binding, BatchBinding) and binding.select:
            selected = storage if arguments else binding.select
            item = self.add_field(item, field_def.type, selected, binding.select, arguments)
        provided = self.provided(fetch.service, binding.coordinate.type_name, storage, frozenset())
        completer = self.completer(
            field_def.type, nodes, _Position(fetch, item, at.steps).step(storage, item, provided), info
        )
        return (response_key, storage, completer)

    def require_planned(self, binding: BatchBinding, at: _Position) -> tuple[list[_Fetch], tuple[str, ...]]:
        """The fields `binding` requires, planned as if the client had asked for them (not in the answer): one
        that another binding answers is fetched first, and its fetch is returned to wait for; the others, which
        the parent's own call carries, are returned for `require`."""
        parent = self.schema.get_type(binding.coordinate.type_name)
        assert isinstance(parent, GraphQLObjectType)
        waits: list[_Fetch] = []
        carried: list[str] = []
        below: dict[str, list[str]] = {}  # `dimensions.weight`: the field `dimensions`, `weight` below it
        for path in binding.requires:
            head, *rest = path_steps(path)
            below.setdefault(head, []).extend([".".join(rest)] if rest else [])
        for head, paths in below.items():
            name, arguments = step_field(head)
            required = _for_parent(self.bindings.get(FieldCoordinate(parent.name, name)), at.owner)
            if not isinstance(required, BatchBinding | LoaderBinding) or _answered_in_parent_call(
                required, at.owner
            ):
                carried.extend([f"{head}.{rest}" for rest in paths] if paths else [head])
                continue
            if arguments or any("(" in rest for rest in paths):
                raise PlanError(
                    f"{binding.coordinate} @requires {head}, with arguments, from another subgraph than the"
                    " parent's: not planned yet"
                )
            node = FieldNode(
                name=NameNode(value=name), arguments=(), directives=(), selection_set=_selection_set(paths)
            )
            self.batched_field(
                required, parent.fields[name], [node], name, at, self.field_info(parent, [node])
            )
            waits.append(self.batch_fetches[_fetch_key(required, at.owner.level + 1, name)])
        return waits, tuple(carried)

    # -- fetches ------------------------------------------------------------------------------------------

    def new_fetch(self, service: str, source: Source, level: int) -> _Fetch:
        fetch = _Fetch(
            id=len(self.fetches),
            service=service,
            source=source,
            level=level,
            selection=SelectionBuilder(),
        )
        self.fetches.append(fetch)
        return fetch

    def batch_fetch(
        self,
        binding: BatchBinding | LoaderBinding,
        field_def: GraphQLField,
        owner: _Fetch,
        after: Sequence[_Fetch] = (),
        storage: str | None = None,
    ) -> _Fetch:
        """`storage`: where each parent receives the value (the field's name unless it has arguments)."""
        level = max([owner.level, *(f.level for f in after)]) + 1
        storage = storage or binding.coordinate.field_name
        fetch = self.batch_fetches.get(_fetch_key(binding, level, storage))
        if fetch is None:
            if isinstance(binding, LoaderBinding):
                source = self.sources[source_name(binding, "")]
                fetch = self.new_fetch(f"local:{binding.coordinate}", source, level)
            else:
                source = self.sources[source_name(binding, self.protocol(binding.service))]
                fetch = self.new_fetch(binding.service, source, level)
                fetch.one_to_many = _is_list_field(field_def) and binding.select is None and source.matched
                fetch.key_type = source.key_type(self.key_scalar(binding))
                if source.matched:
                    fetch.selection.add_leaf(binding.match, binding.match)
            fetch.binding = binding
            fetch.storage = storage
            self.batch_fetches[_fetch_key(binding, level, storage)] = fetch
        fetch.depends_on.add(owner.id)
        fetch.depends_on.update(f.id for f in after)
        return fetch

    def key_reader(self, key_path: tuple[str, ...], at: _Position) -> tuple[str, ...]:
        """Ask the parent's service for the key, and say how to read it from each parent."""
        selection = at.selection
        if not at.owner.source.selects:
            return key_path  # a REST or local object: the key is read by field names
        if len(key_path) == 1:
            selection.add_leaf(key_path[0], key_path[0])
            return key_path
        # A dotted key goes under a private alias: its first field may be the batched field itself
        # (Federation style, `product.id` for the gateway's `product`), which is not forwarded.
        alias = self.private_alias(selection)
        sub = selection.add_object(alias, key_path[0])
        for name in key_path[1:-1]:
            sub = sub.add_object(name, name)
        sub.add_leaf(key_path[-1], key_path[-1])
        return (alias, *key_path[1:])

    def require(self, at: _Position, paths: Iterable[str]) -> None:
        """Ask the parent's service for these fields (`organization.id`: `organization { id }`; a field with
        arguments under a key of its own: instrumentation.selection.step_key)."""
        if at.owner.source.selects:
            for path in paths:
                *steps, last = path_steps(path)
                selection = at.selection
                for step in steps:
                    selection = selection.add_object(step_key(step), *step_field(step))
                selection.add_leaf(step_key(last), *step_field(last))

    def key_scalar(self, binding: BatchBinding) -> str:
        """The type of the parent's key field (ID when it is computed or not a field of a scalar type)."""
        if binding.key_function is not None or not binding.key:
            return "ID"
        type_: GraphQLNamedType | None = self.schema.get_type(binding.coordinate.type_name)
        for name in binding.key_path:
            if not isinstance(type_, GraphQLObjectType) or name not in type_.fields:
                return "ID"
            type_ = get_named_type(type_.fields[name].type)
        return type_.name if type_ is not None and is_leaf_type(type_) else "ID"

    def protocol(self, service: str) -> str:
        protocol = self.protocols.get(service)
        if protocol is None:
            raise PlanError(f"unknown service '{service}'")
        return protocol

    # -- selections ---------------------------------------------------------------------------------------

    def add_field(
        self, selection: SelectionBuilder, type_: GraphQLOutputType, key: str, name: str, arguments: str
    ) -> SelectionBuilder:
        if is_leaf_type(get_named_type(type_)):
            selection.add_leaf(key, name, arguments)
            return selection
        return selection.add_object(key, name, arguments)

    def canonical_key(self, name: str, arguments: str) -> str:
        """The downstream response key of a field: its name, or with arguments its name and a number."""
        key = self.canonical.get((name, arguments))
        if key is None:
            key = name
            number = 0
            while arguments and (key == name or key in self.canonical_used):
                number += 1
                key = f"{name}__{number}"
            self.canonical[(name, arguments)] = key
            self.canonical_used.add(key)
        return key

    def private_alias(self, selection: SelectionBuilder) -> str:
        taken = selection.keys() | self.canonical_used
        while True:
            alias = f"_k{self.private_count}"
            self.private_count += 1
            if alias not in taken:
                return alias

    def print_arguments(self, node: FieldNode) -> tuple[str, set[str]]:
        if not node.arguments:
            return "", set()
        text = "(" + ", ".join(print_ast(a) for a in node.arguments) + ")"
        used: set[str] = set()

        class _Variables(Visitor):
            def enter_variable(self, variable: VariableNode, *_: Any) -> None:
                used.add(variable.name.value)

        for argument in node.arguments:
            visit(argument, _Variables())
        return text, used

    def collect_fields(
        self, runtime_type: GraphQLObjectType, selection_sets: Sequence[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        return self.collector.collect(runtime_type, selection_sets)

    def field_info(self, parent_type: GraphQLObjectType, nodes: Sequence[FieldNode]) -> FieldInfo:
        positions = tuple((n.loc.source, n.loc.start) for n in nodes if n.loc is not None)
        return FieldInfo(parent_type.name, nodes[0].name.value, positions)

    def introspection_document(self, nodes: list[FieldNode]) -> DocumentNode:
        """The client's operation reduced to its introspection root fields, for graphql-core to answer."""
        selection_set = SelectionSetNode(selections=tuple(nodes))
        operation = OperationDefinitionNode(
            operation=self.operation.operation,
            name=self.operation.name,
            variable_definitions=self.operation.variable_definitions,
            directives=(),
            selection_set=selection_set,
        )
        return DocumentNode(definitions=(operation, *self.fragments.values()))

    # -- freezing -----------------------------------------------------------------------------------------

    def freeze(self, operation: Literal["query", "mutation"]) -> tuple[Fetch, ...]:
        return tuple(
            self.freeze_root(fetch, operation) if fetch.binding is None else self.freeze_batch(fetch)
            for fetch in sorted(self.fetches, key=lambda f: (f.level, f.id))
        )

    def freeze_root(self, fetch: _Fetch, operation: Literal["query", "mutation"]) -> RootFetch:
        selection = fetch.selection.freeze()
        variables = tuple(sorted(fetch.variables))
        query = ""
        if fetch.source.selects:
            query = self.downstream_document(operation, variables, print_selection(selection))
        root = RootFetch(
            id=fetch.id,
            service=fetch.service,
            source=fetch.source.name,
            operation=operation,
            keys=tuple(fetch.root_keys),
            selection=selection,
            query=query,
            variables=variables,
            path=fetch.path,
            arguments=fetch.arguments,
            method=fetch.method,
            items=fetch.items,
            expects=fetch.expects,
        )
        return dataclasses.replace(root, label=fetch.source.root_label(root))

    def freeze_batch(self, fetch: _Fetch) -> BatchFetch:
        binding = fetch.binding
        assert binding is not None
        source = fetch.source
        selection = fetch.selection.freeze()
        request = BatchRequest()
        select = key_function = None
        if isinstance(binding, BatchBinding):
            sent = binding.requires if binding.entity is not None and binding.key_function is not None else ()
            request = BatchRequest(
                binding.field, binding.arg, binding.entity, binding.path, binding.match, binding.items, sent
            )
            # With arguments, the item holds the field under its canonical key, which is also where it is stored.
            select = binding.select if fetch.storage == binding.coordinate.field_name else fetch.storage
            key_function = binding.coordinate if binding.key_function is not None else None
        return BatchFetch(
            id=fetch.id,
            service=fetch.service,
            source=source.name,
            level=fetch.level,
            coordinate=binding.coordinate,
            request=request,
            paths=tuple(fetch.paths),
            storage=fetch.storage,
            selection=selection,
            one_to_many=fetch.one_to_many,
            select=select,
            document_field=source.document_field(fetch.id, request, print_selection(selection)),
            key_type=fetch.key_type,
            variables=tuple(sorted(fetch.variables)),
            key_function=key_function,
            depends_on=tuple(sorted(fetch.depends_on)),
            label=source.label(request),
        )

    def downstream_document(self, operation: str, variables: Sequence[str], selection: str) -> str:
        definitions = {
            d.variable.name.value: d
            for d in self.operation.variable_definitions or ()
            if d.variable.name.value in variables
        }
        if not definitions:
            return f"{operation} {selection}"
        printed = ", ".join(
            f"${name}: {print_ast(d.type)}" + (f" = {print_ast(d.default_value)}" if d.default_value else "")
            for name, d in definitions.items()
        )
        return f"{operation}({printed}) {selection}"


def _for_parent(binding: Binding | None, owner: _Fetch) -> Binding | None:
    """The binding for parents that `owner` returned: an alternative made for its service (a Federation entity
    fetched with another of its keys, the one that service has), or the binding itself."""
    if isinstance(binding, BatchBinding) and binding.alternatives:
        return next((a for a in binding.alternatives if owner.service in a.for_parents), binding)
    return binding


def _fetch_key(binding: BatchBinding | LoaderBinding, level: int, storage: str) -> tuple[Hashable, ...]:
    """The parents of one binding at one level share a fetch; an alternative of it (another service or key),
    or the field with other arguments (another storage), has its own."""
    if isinstance(binding, LoaderBinding):
        return (binding.coordinate, level)
    return (binding.coordinate, level, storage, binding.service, binding.key, binding.requires)


def _answered_in_parent_call(binding: Binding | None, owner: _Fetch) -> bool:
    """A Federation subgraph that resolves an entity's field (the binding's service, or one it is also
    answered by) answers it for the entities it returns itself: in the parent's own call, not in another
    `_entities` call (unless the field `@requires` values that must be sent with the key)."""
    return (
        isinstance(binding, BatchBinding)
        and binding.entity is not None
        and binding.same_call
        and (binding.service == owner.service or owner.service in binding.answered_by)
    )


def _selection_set(paths: Sequence[str]) -> SelectionSetNode | None:
    """The selection set of dotted paths (`weight`, `size.height`): None for none."""
    if not paths:
        return None
    below: dict[str, list[str]] = {}
    for path in paths:
        name, *rest = path_steps(path)
        below.setdefault(name, []).extend([".".join(rest)] if rest else [])
    return SelectionSetNode(
        selections=tuple(
            FieldNode(
                name=NameNode(value=name), arguments=(), directives=(), selection_set=_selection_set(rest)
            )
            for name, rest in below.items()
        )
    )


def _shape(field_def: GraphQLField) -> Literal["object", "list", "value"]:
    """What a REST answer for this field must be: a JSON array, a JSON object, or any value (a scalar)."""
    if _is_list_field(field_def):
        return "list"
    return "value" if is_leaf_type(get_named_type(field_def.type)) else "object"


def _is_list_field(field_def: GraphQLField) -> bool:
    type_ = field_def.type
    if is_non_null_type(type_):
        type_ = cast(GraphQLNonNull[Any], type_).of_type
    return is_list_type(type_)


def _introspected(response_key: str) -> Completer:
    copy = precompleted_completer()

    def complete(value: Any, path: Any, errors: list[dict[str, Any]]) -> Any:
        return copy(value.get(response_key) if value else None, path, errors)

    return complete
