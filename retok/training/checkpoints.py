"""Resumable jobs: one checkpoint folder per run, holding the run's settings and what it has done so far.

The one scheme every resumable job in retok uses (``retok demo``, the benchmark recipes, and the
training loop in :mod:`retok.training.trainer`, hence ``finetune``):

- ``<out>.partial/settings.json``: the settings the run was started with, written once by
  :func:`resume_or_start`. A rerun with other settings is refused (its result would mix two runs);
  a rerun with the same settings picks up where the interrupted one stopped.
- results computed once and kept (:func:`cached_json`), and/or a training state replaced at each
  checkpoint (:func:`save_state` / :func:`load_state`). Every file is written atomically, so an
  interrupted write never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from retok.atomic import atomic_write_text
from retok.errors import RetokError

SETTINGS_FILE = "settings.json"


def cached_json(path: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Checkpoint: reuse ``path`` if an earlier (interrupted) run wrote it, else compute and write it."""
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    row = compute()
    atomic_write_text(path, json.dumps(row, indent=2) + "\n")
    return row


def check_settings(work: Path, settings: dict[str, Any]) -> bool:
    """Whether ``work`` holds an interrupted run of these ``settings`` (False: no run there yet).

    Raises RetokError if it holds a run made with other settings. Reads only, so every process of
    a distributed run can check while one of them creates the folder.
    """
    marker = Path(work) / SETTINGS_FILE
    if not marker.exists():
        return False
    earlier = json.loads(marker.read_text(encoding="utf-8"))
    now = json.loads(json.dumps(settings))  # compare as JSON sees it (tuples are lists there)
    if earlier != now:
        raise RetokError(
            f"{str(work)!r} holds an interrupted run made with other settings ({'; '.join(differences(earlier, now))}); "
            f"rerun with the same settings to resume it, or delete that folder to start over"
        )
    return True


def resume_or_start(work: Path, settings: dict[str, Any]) -> None:
    """Create the checkpoint folder, or check that the one left by an interrupted run used the same settings."""
    if check_settings(work, settings):
        return
    Path(work).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(work) / SETTINGS_FILE, json.dumps(settings) + "\n")


def differences(earlier: Any, now: Any, prefix: str = "") -> list[str]:
    """``"key: earlier -> now"`` for every (nested) setting that changed, for error messages."""
    if not (isinstance(earlier, dict) and isinstance(now, dict)):
        return [] if earlier == now else [f"{prefix or 'settings'}: {earlier!r} -> {now!r}"]
    found = []
    for key in sorted(set(earlier) | set(now), key=str):
        name = f"{prefix}.{key}" if prefix else str(key)
        found += differences(earlier.get(key, "<unset>"), now.get(key, "<unset>"), name)
    return found


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write a ``torch.save``-able training state to ``path`` atomically (a temporary file, then a rename)."""
    tmp = Path(path).with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(path: Path) -> dict[str, Any]:
    """Read a state written by :func:`save_state` onto the CPU (it holds optimizer and RNG states, not only tensors).

    A state that cannot be read (a file damaged after it was written) is refused in one line: resuming from it is impossible.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as e:
        raise RetokError(f"{path} is damaged ({str(e).splitlines()[0] if str(e) else type(e).__name__}); delete {Path(path).parent} "
                         "to start over (or rerun with --overwrite)") from None


__all__ = ["SETTINGS_FILE", "cached_json", "check_settings", "differences", "load_state", "resume_or_start", "save_state"]
