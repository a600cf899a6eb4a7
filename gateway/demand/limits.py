"""Demand limits: what one request may ask of the gateway, checked before each expensive step is paid for.

Tokens are counted while parsing (the parser stops at the limit); depth, aliases and root fields on the parsed
document before validation; the static cost (gateway.demand.cost) on the validated operation with its
variables, before anything is planned or sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    Source,
    parse,
)

from instrumentation.errors import ErrorCode

from .cost import actual_cost, static_cost
from .shape import measure

__all__ = ["DemandLimits", "limit_error"]

_TOKENS_MESSAGE: Final = "Document contains more than"  # graphql-core's, when parse stops at max_tokens
_DERIVED_KEY: Final = "demand.cost"  # in PreparedDocument.derived


def limit_error(message: str, code: ErrorCode, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


@dataclass(frozen=True, slots=True)
class DemandLimits:
    """The `server:` limits a document is held to; None for a limit means none."""

    max_tokens: int | None = None
    max_depth: int | None = None
    max_aliases: int | None = None
    max_root_fields: int | None = None
    max_cost: int | None = None
    default_list_size: int = 10
    introspection: bool = True

    def parse(self, query: str) -> DocumentNode:
        """The document, or GraphQLError (a syntax error, or more tokens than `max_tokens`)."""
        try:
            return parse(Source(query, "GraphQL request"), max_tokens=self.max_tokens)
        except GraphQLError as error:
            if self.max_tokens is not None and _TOKENS_MESSAGE in error.message:
                message = f"The query has more than {self.max_tokens} tokens (server.max_tokens)."
                raise limit_error(message, ErrorCode.TOO_MANY_TOKENS) from None
            raise
        except RecursionError:  # nesting too deep for the parser itself: far past any depth limit
            raise limit_error("The query nests too deeply to be read.", ErrorCode.QUERY_TOO_DEEP) from None

    def screen(self, document: DocumentNode) -> list[GraphQLError]:
        """The errors for every shape limit `document` exceeds (before validation: it need not be valid)."""
        shape = measure(document)
        errors = []
        if self.max_depth is not None and shape.depth > self.max_depth:
            message = (
                f"The query is {shape.depth} fields deep; the limit is {self.max_depth} (server.max_depth)."
            )
            errors.append(limit_error(message, ErrorCode.QUERY_TOO_DEEP))
        if self.max_aliases is not None and shape.aliases > self.max_aliases:
            message = f"The query uses {shape.aliases} aliases; the limit is {self.max_aliases} (server.max_aliases)."
            errors.append(limit_error(message, ErrorCode.TOO_MANY_ALIASES))
        if self.max_root_fields is not None and shape.root_fields > self.max_root_fields:
            message = (
                f"The query asks for {shape.root_fields} root fields; the limit is {self.max_root_fields}"
                " (server.max_root_fields)."
            )
            errors.append(limit_error(message, ErrorCode.TOO_MANY_ROOT_FIELDS))
        if not self.introspection and shape.introspection:
            message = "Introspection is disabled on this gateway (server.introspection)."
            errors.append(limit_error(message, ErrorCode.INTROSPECTION_DISABLED))
        return errors

    def cost(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
        derived: dict[str, Any] | None = None,
    ) -> tuple[int, GraphQLError | None]:
        """The operation's static cost, and the error refusing it when it is above `max_cost`.

        `derived` is the prepared document's store (`PreparedDocument.derived`): the cost of an operation
        without variables is the same for every request, and is kept there, for this schema and these limits."""
        if derived is None or operation.variable_definitions:
            cost = self._static_cost(schema, document, operation, variables)
        else:
            known = derived.get(_DERIVED_KEY)
            if not isinstance(known, _KnownCost) or not known.holds_for(operation, schema, self):
                cost = self._static_cost(schema, document, operation, variables)
                known = derived[_DERIVED_KEY] = _KnownCost(operation, schema, self, cost)
            cost = known.cost
        if self.max_cost is None or cost <= self.max_cost:
            return cost, None
        message = f"The query costs {cost}; the limit is {self.max_cost} (server.max_cost)."
        return cost, limit_error(message, ErrorCode.COST_LIMIT_EXCEEDED, cost=cost, maxCost=self.max_cost)

    def _static_cost(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> int:
        fragments = _fragments(document)
        return static_cost(schema, fragments, operation, variables, default_list_size=self.default_list_size)

    def actual(
        self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, data: Any
    ) -> int:
        """What the answer `data` cost, with the weights of `cost` and the lengths its lists came back with."""
        return actual_cost(schema, _fragments(document), operation, data)


@dataclass(frozen=True, slots=True, eq=False)
class _KnownCost:
    operation: OperationDefinitionNode
    schema: GraphQLSchema
    limits: DemandLimits
    cost: int

    def holds_for(
        self, operation: OperationDefinitionNode, schema: GraphQLSchema, limits: DemandLimits
    ) -> bool:
        return self.operation is operation and self.schema is schema and self.limits is limits


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
