"""Snapshot files ("schema + query -> printed plan"): compared with what the code prints now, or, with
FUNNEL_UPDATE_SNAPSHOTS=1, written (after reviewing the diff). Without it a missing snapshot is a failure."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["assert_snapshot", "snapshot_names"]


def assert_snapshot(snapshot: Path, printed: str) -> None:
    if os.environ.get("FUNNEL_UPDATE_SNAPSHOTS"):
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(printed)
    assert snapshot.exists(), f"no snapshot {snapshot.name}: write it with FUNNEL_UPDATE_SNAPSHOTS=1"
    assert printed == snapshot.read_text()


def snapshot_names(folder: Path) -> list[str]:
    """The cases the folder has snapshots of (each must be a case still: a stale one is a failure)."""
    return sorted(p.stem for p in folder.glob("*.txt"))
