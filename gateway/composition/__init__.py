"""The gateway schema from the services themselves: composition, the schema lock, and schema diffs."""

from .compose import COMPOSED, Composition, compose, compose_schemas
from .diff import Change, SchemaDiff, diff_schemas, print_diff, read_schema_file
from .gateway_schema import load_gateway_schema
from .openapi import OpenAPIDocument, Operation, Parameter, parse_openapi, read_openapi
from .rest_check import check_rest_bindings
from .sources import ServiceSchema, load_service_schemas
from .supergraph import is_supergraph, supergraph_api_document

__all__ = [
    "COMPOSED",
    "Change",
    "Composition",
    "OpenAPIDocument",
    "Operation",
    "Parameter",
    "SchemaDiff",
    "ServiceSchema",
    "check_rest_bindings",
    "compose",
    "compose_schemas",
    "diff_schemas",
    "is_supergraph",
    "load_gateway_schema",
    "load_service_schemas",
    "parse_openapi",
    "print_diff",
    "read_openapi",
    "read_schema_file",
    "supergraph_api_document",
]
