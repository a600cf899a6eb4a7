"""Example services for Funnel: accounts (REST), catalog and orders (GraphQL), reviews (Federation subgraph).

Run one with ``python -m examples.services.<name>``, all four with ``python -m examples.services`` (see
:mod:`examples.services.launcher`), or all four in this process with :mod:`examples.services.cluster`.
"""

__all__: list[str] = []
