"""Resumable jobs: one checkpoint folder per run, holding the run's settings and what it has done so far.

The one scheme every resumable job in retok uses (``retok demo``, the benchmark recipes, and the
training loop in :mod:`retok.training.trainer`, hence ``finetune``):

- ``<out>.partial/settings.json``: the settings the run was started with, written once by
  :func:`resume_or_start`. A rerun with other settings is refused (its result would mix two runs);
  a rerun with the same settings picks up where the interrupted one stopped. ``--fresh`` discards
  the folder and starts over; ``--overwrite`` discards it only when it cannot be resumed (other settings).
- results computed once and kept (:func:`cached_json`), and/or a training state replaced at each
  checkpoint (:func:`save_state` / :func:`load_state`). Every file is written atomically, so an
  interrupted write never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

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


#: what to do with the checkpoint folder of an interrupted run: resume it (``"never"`` restart), discard it only
#: if it was made with other settings (``"other"``, what ``--overwrite`` means), or always (``"always"``, ``--fresh``)
Restart = Literal["never", "other", "always"]


def restart_rule(*, overwrite: bool = False, fresh: bool = False) -> Restart:
    """The :data:`Restart` of a command's ``--overwrite`` and ``--fresh`` flags."""
    return "always" if fresh else "other" if overwrite else "never"


def partial_status(work: Path, settings: dict[str, Any]) -> Literal["none", "same", "other", "unknown"]:
    """What ``work`` holds: nothing, an interrupted run of these ``settings``, one of other settings, or files without settings.

    Reads only, so every process of a distributed run can ask while one of them changes the folder.
    """
    marker = Path(work) / SETTINGS_FILE
    if not Path(work).exists():
        return "none"
    if not marker.exists():
        return "unknown" if any(Path(work).iterdir()) else "none"
    try:
        earlier = json.loads(marker.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "unknown"
    return "same" if earlier == json.loads(json.dumps(settings)) else "other"  # compared as JSON sees it (tuples are lists)


def other_settings_error(work: Path, settings: dict[str, Any]) -> RetokError:
    try:
        earlier = json.loads((Path(work) / SETTINGS_FILE).read_text(encoding="utf-8"))
        changed = "; ".join(differences(earlier, json.loads(json.dumps(settings))))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        changed = "its settings.json cannot be read"
    return RetokError(f"{str(work)!r} holds an interrupted run made with other settings ({changed}); rerun with the same "
                      f"settings to resume it, or add --fresh to discard it and start over")


def resume_or_start(work: Path, settings: dict[str, Any], *, restart: Restart = "never", log: Callable[[str], None] = print) -> bool:
    """Create the checkpoint folder, or resume the one an interrupted run left; True when resuming.

    Every resumable command goes through here, so each announces a resume and a discarded folder the same way.
    ``restart`` (:data:`Restart`) says when the folder of an interrupted run is discarded instead; a folder of
    other settings that is not discarded is refused (its result would mix two runs).
    """
    work = Path(work)
    status = partial_status(work, settings)
    if status == "other" and restart == "never":
        raise other_settings_error(work, settings)
    if status != "none" and (restart == "always" or (restart == "other" and status in ("other", "unknown"))):
        shutil.rmtree(work)
        reason = "--fresh" if restart == "always" else "--overwrite; it was made with other settings"
        log(f"retok: discarded {work}, an interrupted run ({reason})")
        status = "none"
    if status == "same":
        log(f"retok: resuming the interrupted run in {work} (add --fresh to discard it and start over)")
        return True
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_text(work / SETTINGS_FILE, json.dumps(settings) + "\n")
    return False


def open_partial(work: Path, settings: dict[str, Any], *, restart: Restart, main: bool, wait: Callable[[], None],
                 log: Callable[[str], None] = print, state: Path | None = None) -> None:
    """:func:`resume_or_start` for a run on one or several processes (``wait``: the barrier, e.g. ``accelerator.wait_for_everyone``).

    Every process checks first and refuses other settings, so none is left waiting for a partner that
    stopped; then the main process resumes, starts or discards the folder while the others wait.
    ``state``: the file a resume would read; one found in a folder without settings is refused
    (what it was trained with is unknown), unless ``restart`` discards the folder anyway.
    """
    status = partial_status(work, settings)
    if status == "other" and restart == "never":
        raise other_settings_error(work, settings)
    if status == "unknown" and state is not None and state.exists() and restart == "never":
        raise RetokError(f"{state} has no {SETTINGS_FILE} beside it (an older retok wrote it), so what it was trained with "
                         f"is unknown; add --fresh to discard {work} and start over")
    if main:
        resume_or_start(work, settings, restart=restart, log=log)
    wait()


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
        reason = (str(e).splitlines() or [type(e).__name__])[0].split(". ")[0]  # torch's messages go on for several sentences
        raise RetokError(f"{path} is damaged ({reason}); rerun with --fresh to "
                         f"discard {Path(path).parent} and start over") from None


__all__ = ["SETTINGS_FILE", "Restart", "cached_json", "differences", "load_state", "open_partial", "other_settings_error", "partial_status",
           "restart_rule", "resume_or_start", "save_state"]
