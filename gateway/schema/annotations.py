"""The annotation language: `@remote` and `@batch` in the gateway's SDL, compiled to bindings and checked.

`validate_bindings` is the one place bindings are checked, whether they come from SDL directives (here) or
from the Python decorators, so both report the same problems in the same words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Final

from graphql import (
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    FieldDefinitionNode,
    GraphQLDirective,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    Source,
    TypeDefinitionNode,
    build_ast_schema,
    get_directive_values,
    get_named_type,
    is_leaf_type,
    parse,
    validate_schema,
)
from graphql.validation.validate import validate_sdl  # the only API that keeps the errors' locations

from instrumentation.selection import path_steps, step_field
from registry.bindings import BatchBinding, Binding, FieldCoordinate, RemoteBinding, SourceLocation
from registry.config import ServiceConfig
from registry.errors import ConfigError, Problem

from .policy_directives import POLICY_DIRECTIVES

__all__ = ["DIRECTIVES_SDL", "load_schema", "validate_bindings"]

DIRECTIVES_SDL: Final = """\
"Resolve this root field by forwarding its arguments and sub-selection to a service."
directive @remote(
  service: String!
  field: String      # GraphQL service: the root field to call (default: the same name)
  path: String       # REST/JSON service: {base}{path}; "{arg}" placeholders filled from arguments (each one
                     # percent-encoded path segment), the other arguments sent as query parameters (GET)
                     # or as a JSON object body (other methods)
  method: String     # REST: GET, POST, PUT, PATCH or DELETE (default: GET on Query, POST on Mutation)
  items: String      # REST: where the value is in the answer, e.g. "data" for {"data": {...}}
) on FIELD_DEFINITION

"Resolve this field for all parents at one level with one call to a service."
directive @batch(
  service: String!   # a name in the registry
  key: String!       # field (or dotted path, e.g. "product.id") of the parent, as the parent's service returns it
  field: String      # GraphQL service: a root field taking the list of keys
  arg: String = "ids"   # that field's list argument (or the REST query parameter)
  entity: String     # Apollo Federation subgraph: resolve through _entities with this __typename
  path: String       # REST/JSON service: GET {base}{path}?{arg}=k1,k2,...
  match: String = "id"  # field of each returned item that equals the key (for `entity`: the @key field)
  select: String     # read this field of each returned item as the value (default: the item itself),
                     # e.g. Product.reviews from a Federation subgraph that extends Product
  items: String      # REST: where the list is in the answer, e.g. "items" for {"items": [...]}
) on FIELD_DEFINITION
"""

# Parsed on its own (not pasted in front of the user's text) so the user's line numbers stay true.
_DIRECTIVES: Final = parse(Source(DIRECTIVES_SDL, "<funnel directives>"))
_REFERENCE: Final = build_ast_schema(
    DocumentNode(definitions=(*_DIRECTIVES.definitions, *parse("type Query { _: Int }").definitions))
)
_BINDING_CLASSES: Final[Mapping[str, type[RemoteBinding] | type[BatchBinding]]] = {
    "remote": RemoteBinding,
    "batch": BatchBinding,
}
_SOURCES: Final = ("field", "entity", "path")  # @batch: exactly one
_PROTOCOL_OF_ARGUMENT: Final[Mapping[str, str]] = {
    "field": "graphql",
    "entity": "graphql",
    "path": "rest",
    "method": "rest",
    "items": "rest",
}
_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
_DOTTED: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]*(\.[_A-Za-z][_0-9A-Za-z]*)*")
_NAME: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
_PLACEHOLDER: Final = re.compile(r"\{([^{}]*)\}")


def load_schema(
    sdl: str, path: str, services: Mapping[str, ServiceConfig]
) -> tuple[GraphQLSchema, tuple[Binding, ...]]:
    """Build the gateway schema from `sdl` (the text of the file `path`) and compile its `@remote`/`@batch`
    annotations; raise `ConfigError` with every problem found."""
    try:
        document = parse(Source(sdl, path))
    except GraphQLError as error:
        raise ConfigError([_graphql_problem(error, path)]) from None
    defined = {
        d.name.value
        for d in document.definitions
        if isinstance(d, DirectiveDefinitionNode | TypeDefinitionNode)
    }
    known = (*_DIRECTIVES.definitions, *POLICY_DIRECTIVES.definitions)
    missing = [d for d in known if d.name.value not in defined]  # type: ignore[attr-defined]
    document = DocumentNode(definitions=(*missing, *document.definitions))

    _raise_if([_graphql_problem(error, path) for error in validate_sdl(document)])
    try:
        schema = build_ast_schema(document, assume_valid_sdl=True)
    except (GraphQLError, TypeError) as error:
        raise ConfigError([Problem(str(error), path)]) from None
    _raise_if([_graphql_problem(error, path) for error in validate_schema(schema)])
    _raise_if(_check_directive_definitions(schema, path))

    bindings: list[Binding] = []
    problems: list[Problem] = []
    for type_name, field_node in _field_definitions(document):
        for directive in field_node.directives or ():
            binding_class = _BINDING_CLASSES.get(directive.name.value)
            if binding_class is None:
                continue
            location = _location(directive, path)
            try:
                arguments = get_directive_values(_directive(schema, directive.name.value), field_node) or {}
            except GraphQLError as error:  # e.g. `service: 1`; SDL validation does not check value types
                problems.append(_graphql_problem(error, path))
                continue
            # An explicit `arg: null` means "not given": the binding's default (equal to the SDL's) applies.
            given = {name: value for name, value in arguments.items() if value is not None}
            coordinate = FieldCoordinate(type_name, field_node.name.value)
            bindings.append(binding_class(coordinate=coordinate, location=location, **given))
    _raise_if([*problems, *validate_bindings(schema, bindings, services)])
    return schema, tuple(bindings)


def validate_bindings(
    schema: GraphQLSchema, bindings: Sequence[Binding], services: Mapping[str, ServiceConfig]
) -> list[Problem]:
    """Every problem of `bindings` against `schema` and the registry's `services`, in binding order."""
    problems: list[Problem] = []
    first_of: dict[FieldCoordinate, Binding] = {}
    for binding in bindings:
        messages = list(_binding_messages(schema, binding, services))
        first = first_of.setdefault(binding.coordinate, binding)
        if first is not binding:
            messages.append(_bound_twice(first, binding))
        location = binding.location
        problems.extend(
            Problem(
                message,
                location.file if location else None,
                location.line if location else None,
                str(binding.coordinate),
            )
            for message in messages
        )
    return problems


def _binding_messages(
    schema: GraphQLSchema, binding: Binding, services: Mapping[str, ServiceConfig]
) -> Iterator[str]:
    type_name, field_name = binding.coordinate.type_name, binding.coordinate.field_name
    parent = schema.get_type(type_name)
    if parent is None:
        yield f"unknown type '{type_name}'"
        return
    if not isinstance(parent, GraphQLObjectType):
        yield f"{type_name} is not an object type"
        return
    field = parent.fields.get(field_name)
    if field is None:
        yield f"unknown field '{field_name}' on {type_name}"
        return
    for required in getattr(binding, "requires", ()):  # RemoteBinding forwards arguments, reads no parent
        reached = _walk(parent, required)
        if isinstance(reached, str):
            yield f"requires '{required}': {reached}"
    if isinstance(binding, RemoteBinding):
        yield from _remote_messages(schema, parent, field, binding, services)
    elif isinstance(binding, BatchBinding):
        yield from _batch_messages(schema, parent, field, binding, services)


def _remote_messages(
    schema: GraphQLSchema,
    parent: GraphQLObjectType,
    field: GraphQLField,
    binding: RemoteBinding,
    services: Mapping[str, ServiceConfig],
) -> Iterator[str]:
    roots = [t.name for t in (schema.query_type, schema.mutation_type) if t is not None]
    if parent.name not in roots:
        yield f"@remote is only allowed on fields of {' or '.join(roots)}, not {parent.name}"
    service = services.get(binding.service)
    if service is None:
        yield _unknown_service(binding.service, services)
        return
    yield from _protocol_messages("@remote", binding, ("field", "path", "method", "items"), service)
    if binding.method is not None and binding.method not in _METHODS:
        yield f"@remote(method:) must be one of {', '.join(_METHODS)}, got '{binding.method}'"
    yield from _items_messages("@remote", binding.items)
    if service.protocol == "rest":
        if binding.path is None:
            yield f"@remote on rest service '{service.name}' needs path:"
            return
        arguments = ", ".join(field.args) or "none"
        for name in _PLACEHOLDER.findall(binding.path):
            if name not in field.args:
                yield f"@remote(path:) placeholder {{{name}}} is not an argument (arguments: {arguments})"


def _batch_messages(
    schema: GraphQLSchema,
    parent: GraphQLObjectType,
    field: GraphQLField,
    binding: BatchBinding,
    services: Mapping[str, ServiceConfig],
) -> Iterator[str]:
    if parent in (schema.query_type, schema.mutation_type, schema.subscription_type):
        yield f"@batch is not allowed on a root type ({parent.name}); use @remote"
        return  # a root field has no parents to batch over: the rest would be noise
    if field.args and binding.entity is None:  # an entity field's go into its `_entities` selection
        yield f"@batch fields take no arguments, unless entity: is given (declared: {', '.join(field.args)})"
    sources = [name for name in _SOURCES if getattr(binding, name) is not None]
    if len(sources) != 1:
        yield f"@batch: exactly one of field, entity, path is required (got {', '.join(sources) or 'none'})"
    service = services.get(binding.service)
    if service is None:
        yield _unknown_service(binding.service, services)
    else:
        yield from _protocol_messages("@batch", binding, [*sources, "items"], service)
    yield from _items_messages("@batch", binding.items)
    if binding.key is None and binding.key_function is None:
        yield "@batch: a key is required (key or key_function)"
    elif binding.key is not None and binding.key_function is not None:
        yield "@batch: give key or key_function, not both"
    elif binding.key is not None:
        reached = _walk(parent, binding.key)
        if isinstance(reached, str):
            yield f"key '{binding.key}': {reached}"
        elif not is_leaf_type(reached):
            yield f"key '{binding.key}': must end at a scalar field, not at {reached.name}"
    if binding.select is not None and not _NAME.fullmatch(binding.select):
        yield f"@batch(select:) must be a plain field name, got '{binding.select}'"


def _protocol_messages(
    directive: str, binding: RemoteBinding | BatchBinding, arguments: Sequence[str], service: ServiceConfig
) -> Iterator[str]:
    for argument in arguments:
        needed = _PROTOCOL_OF_ARGUMENT[argument]
        if getattr(binding, argument) is not None and service.protocol != needed:
            yield f"{directive}({argument}:) needs a {needed} service; '{service.name}' is {service.protocol}"


def _items_messages(directive: str, items: str | None) -> Iterator[str]:
    if items is not None and not _DOTTED.fullmatch(items):
        yield f"{directive}(items:) must be a field name or a dotted path of names (e.g. data.items), got '{items}'"


def _unknown_service(name: str, services: Mapping[str, ServiceConfig]) -> str:
    return f"unknown service '{name}' (known: {', '.join(sorted(services)) or 'none'})"


def _walk(parent: GraphQLObjectType, dotted: str) -> GraphQLNamedType | str:
    """The type a dotted field path reaches from `parent` through the gateway types (lists are stepped
    through; a step may give arguments, `price(currency: "EUR")`), or why it does not resolve."""
    reached: GraphQLNamedType = parent
    for step in path_steps(dotted):
        segment = step_field(step)[0]
        fields = reached.fields if isinstance(reached, GraphQLObjectType | GraphQLInterfaceType) else {}
        if segment not in fields:
            return f"{reached.name} has no field '{segment}'"
        reached = get_named_type(fields[segment].type)
    return reached


def _bound_twice(first: Binding, second: Binding) -> str:
    if {type(first), type(second)} == {RemoteBinding, BatchBinding}:
        return "has both @remote and @batch"
    return f"bound twice (first at {first.location})" if first.location else "bound twice"


def _check_directive_definitions(schema: GraphQLSchema, path: str) -> list[Problem]:
    """A user's own `@remote`/`@batch` definition must declare exactly Funnel's arguments: they become the
    binding's fields."""
    problems: list[Problem] = []
    for name in _BINDING_CLASSES:
        ours, theirs = _directive(_REFERENCE, name), _directive(schema, name)
        expected = {arg: str(value.type) for arg, value in ours.args.items()}
        if {arg: str(value.type) for arg, value in theirs.args.items()} != expected:
            node = theirs.ast_node
            line = _location(node, path).line if node is not None else None
            signature = ", ".join(f"{arg}: {type_}" for arg, type_ in expected.items())
            problems.append(Problem(f"directive @{name} must declare exactly ({signature})", path, line))
    return problems


def _directive(schema: GraphQLSchema, name: str) -> GraphQLDirective:
    directive = schema.get_directive(name)
    assert directive is not None, name  # Funnel's definitions are added whenever the user's are missing
    return directive


def _field_definitions(document: DocumentNode) -> Iterator[tuple[str, FieldDefinitionNode]]:
    for definition in document.definitions:
        for field_node in getattr(definition, "fields", None) or ():
            if isinstance(field_node, FieldDefinitionNode):
                yield definition.name.value, field_node  # type: ignore[attr-defined]


def _location(node: DirectiveNode | DirectiveDefinitionNode, path: str) -> SourceLocation:
    loc = node.loc
    if loc is None:  # only for documents parsed with no_location
        return SourceLocation(path, 0)
    # The token knows its line: get_location would count the lines from the start again for each directive.
    return SourceLocation(loc.source.name, loc.start_token.line)


def _graphql_problem(error: GraphQLError, path: str) -> Problem:
    line = error.locations[0].line if error.locations else None
    return Problem(error.message, error.source.name if error.source else path, line)


def _raise_if(problems: list[Problem]) -> None:
    if problems:
        raise ConfigError(problems)
