"""The repository checkout around the installed packages: where `examples/` and `benchmarks/` live.

Only gateway, registry and instrumentation are installed packages. The demo and the benchmarks are imported
from the checkout next to them (an editable install), with the repository root put on `sys.path`; an install
from a wheel has neither, and the commands that need them say so.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Final

__all__ = ["REPOSITORY", "CheckoutMissing", "import_from_checkout"]

REPOSITORY: Final = Path(__file__).resolve().parents[2]


class CheckoutMissing(RuntimeError):
    pass


def import_from_checkout(module: str, *, command: str) -> ModuleType:
    """Import `module` (e.g. "examples.services.launcher") from the checkout."""
    folder = REPOSITORY / module.split(".")[0]
    if not folder.is_dir():
        raise CheckoutMissing(
            f"funnel {command} needs the repository's {folder.name}/ folder, not found at {folder}: "
            "run it from a checkout installed with `pip install -e .`"
        )
    if str(REPOSITORY) not in sys.path:
        sys.path.insert(0, str(REPOSITORY))
    return importlib.import_module(module)
