"""Apollo Federation supergraphs served by Funnel: the join directives read (join.py) and turned into Funnel's
own annotations (annotate.py), loaded like any gateway schema (load.py)."""

from .annotate import annotate_supergraph, supergraph_services
from .join import JoinField, JoinGraph, JoinType, Supergraph, read_join
from .load import load_supergraph

__all__ = [
    "JoinField",
    "JoinGraph",
    "JoinType",
    "Supergraph",
    "annotate_supergraph",
    "load_supergraph",
    "read_join",
    "supergraph_services",
]
