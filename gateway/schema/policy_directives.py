"""The directives that say what a field costs and who may read it, in the names Apollo and Cosmo users write:
`@cost` and `@listSize` of the IBM/GraphQL cost directive specification, `@authenticated` and `@requiresScopes`,
and Apollo's `@cacheControl` (gateway.cache.rules).

The gateway schema may use them without declaring them (they are added when missing, as `@remote` is); clients
never see them.
"""

from __future__ import annotations

from typing import Final

from graphql import DocumentNode, Source, parse

__all__ = ["POLICY_DIRECTIVES", "POLICY_DIRECTIVES_SDL", "POLICY_DIRECTIVE_NAMES", "POLICY_TYPE_NAMES"]

POLICY_DIRECTIVES_SDL: Final = """\
"What resolving this costs, in place of the default (1 for an object, 0 for a scalar)."
directive @cost(weight: Int!) on
  ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION | INPUT_FIELD_DEFINITION | OBJECT | SCALAR

"How many items a list field returns: an argument's value (first:), or an assumed size."
directive @listSize(
  assumedSize: Int
  slicingArguments: [String!]
  sizedFields: [String!]
  requireOneSlicingArgument: Boolean = true
) on FIELD_DEFINITION

"Only an authenticated caller may read this field (or any field of this type)."
directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM

"The caller needs every scope of at least one of the inner lists."
directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM

"How long the entity cache keeps a batched field's answers (on a type: every batched field of it); PRIVATE: per caller."
directive @cacheControl(maxAge: Int, scope: CacheControlScope, inheritMaxAge: Boolean) on
  FIELD_DEFINITION | OBJECT | INTERFACE | UNION

enum CacheControlScope {
  PUBLIC
  PRIVATE
}
"""

POLICY_DIRECTIVES: Final[DocumentNode] = parse(Source(POLICY_DIRECTIVES_SDL, "<funnel policy directives>"))
POLICY_DIRECTIVE_NAMES: Final = frozenset(
    {"cost", "listSize", "authenticated", "requiresScopes", "cacheControl"}
)
POLICY_TYPE_NAMES: Final = frozenset({"CacheControlScope"})  # used by those directives only
