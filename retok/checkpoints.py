"""Resumable multi-step jobs: a folder of JSON results, each computed once, plus the settings they belong to.

Used by ``retok demo`` and the benchmark recipes: an interrupted run leaves ``<out>.partial/``
behind, and rerunning with the same settings picks up where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .errors import RetokError


def cached_json(path: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Checkpoint: reuse ``path`` if an earlier (interrupted) run wrote it, else compute and write it."""
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    row = compute()
    atomic_write_text(path, json.dumps(row, indent=2) + "\n")
    return row


def resume_or_start(work: Path, settings: dict[str, Any]) -> None:
    """Create the checkpoint folder, or check that the one left by an interrupted run used the same settings."""
    marker = work / "settings.json"
    if marker.exists():
        earlier = json.loads(marker.read_text(encoding="utf-8"))
        if earlier != settings:
            raise RetokError(
                f"{str(work)!r} holds an interrupted run with other settings ({earlier}); "
                f"remove that folder or rerun with the same settings to resume it"
            )
        return
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker, json.dumps(settings) + "\n")
