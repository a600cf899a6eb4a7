"""Funnel's gateway: `from gateway import Gateway`."""

from .gateway import Gateway

__all__ = ["Gateway"]
