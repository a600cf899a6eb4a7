"""The `funnel` command (also `python -m gateway`): serve, demo, explain, check, bench."""

from .commands import main

__all__ = ["main"]
