"""The HTTP server: GraphQL over HTTP, health and readiness, the browser page, and running it (workers)."""

from .app import DEBUG_HEADER, GATEWAY, GRAPHQL_PATH, SETTINGS, STATE, ServerState, create_app

__all__ = [
    "DEBUG_HEADER",
    "GATEWAY",
    "GRAPHQL_PATH",
    "SETTINGS",
    "STATE",
    "ServerState",
    "create_app",
]
