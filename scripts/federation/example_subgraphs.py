"""Writes the example services' subgraph schemas (examples/services: catalog, orders and accounts at /subgraph,
reviews at /graphql) into examples/federation/services/*.graphql, which compose.mjs composes into that folder's
supergraph.graphql; tests/federation/test_example_services.py checks that the files match the services.

    python scripts/federation/example_subgraphs.py   # compose.sh runs it first
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT))

from examples.services import accounts, catalog, orders, reviews  # noqa: E402

__all__ = ["FOLDER", "HEADER", "SUBGRAPHS", "main"]

FOLDER: Final = ROOT / "examples" / "federation" / "services"
HEADER: Final = "# Written by scripts/federation/example_subgraphs.py from examples/services: do not edit.\n"
SUBGRAPHS: Final = {
    "accounts": accounts.SUBGRAPH_SDL,
    "catalog": catalog.SUBGRAPH_SDL,
    "orders": orders.SUBGRAPH_SDL,
    "reviews": reviews.SDL,
}


def main() -> None:
    for name, sdl in SUBGRAPHS.items():
        (FOLDER / f"{name}.graphql").write_text(HEADER + sdl.lstrip("\n"))
        print(f"services/{name}.graphql")


if __name__ == "__main__":
    main()
