"""What to install for an optional feature: one hint, the same in every error message and in README.md.

Funnel is installed from a checkout (`pip install -e .`), so the extra is named as pyproject.toml has it; the
package itself is named too, for an environment that has Funnel some other way (a wheel, a vendored copy).
"""

from __future__ import annotations

__all__ = ["install_hint"]


def install_hint(extra: str, package: str) -> str:
    """`pip install -e ".[metrics]"` (in the checkout) or `pip install prometheus-client`."""
    return f'pip install -e ".[{extra}]" in the checkout, or pip install {package}'
