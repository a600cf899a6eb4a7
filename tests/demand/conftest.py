"""The servers of tests/server (a real gateway over the example services)."""

from tests.server.conftest import server, start_server

__all__ = ["server", "start_server"]
