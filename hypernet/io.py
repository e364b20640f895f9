"""The saved form of a hypernetwork: ``hypernet.safetensors`` + ``hypernet_config.json``, and the source's identity.

A hypernetwork is only meaningful for the source embeddings it was trained on, so the config
records the source model's name and a fingerprint (a hash of its embedding matrices), and
:func:`check_fingerprint` refuses any other source with a clear error. The folder is written
atomically (:func:`retok.atomic.atomic_dir`); an existing one is replaced only with ``overwrite``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from retok import __version__ as retok_version
from retok.atomic import atomic_dir
from retok.errors import RetokError
from retok.integrity import check_safetensors

FORMAT = 1
WEIGHTS = "hypernet.safetensors"
CONFIG = "hypernet_config.json"


def fingerprint(table_in: torch.Tensor, table_out: torch.Tensor | None) -> str:
    """A short hash of the source embedding matrices (shape, dtype-independent: hashed as float32)."""
    h = hashlib.blake2b(digest_size=12)
    for table in (table_in, table_out):
        if table is None:
            h.update(b"tied")
            continue
        t = table.detach().float().contiguous().cpu()
        h.update(f"{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def source_identity(name: str, table_in: torch.Tensor, table_out: torch.Tensor | None) -> dict[str, Any]:
    return {"name": name, "fingerprint": fingerprint(table_in, table_out), "vocab_size": int(table_in.shape[0]),
            "dim": int(table_in.shape[1]), "tied": table_out is None}


def check_fingerprint(source: dict[str, Any], table_in: torch.Tensor, table_out: torch.Tensor | None, *, where: str = "") -> None:
    """RetokError unless ``table_in``/``table_out`` are the embeddings ``source`` (a :func:`source_identity`) describes."""
    label = f"the hypernetwork {where}".rstrip() if where else "this hypernetwork"
    got = (int(table_in.shape[0]), int(table_in.shape[1]), table_out is None)
    want = (source.get("vocab_size"), source.get("dim"), source.get("tied"))
    if got != want or fingerprint(table_in, table_out) != source.get("fingerprint"):
        raise RetokError(
            f"{label} was trained for {source.get('name', 'another model')!r} ({want[0]} x {want[1]}, "
            f"{'tied' if want[2] else 'untied'}, embeddings {source.get('fingerprint')}), but this source model's embeddings "
            f"differ ({got[0]} x {got[1]}, {'tied' if got[2] else 'untied'}); train one for this model with "
            "`retok train-hypernet --model ...`, or for a fine-tuned variant pass its base with --base-model"
        )


def write_folder(path: str | Path, state: dict[str, torch.Tensor], config: dict[str, Any], *, overwrite: bool = False,
                 extra: dict[str, str] | None = None) -> Path:
    """Write the weights, the config and ``extra`` text files (name -> content) into ``path``, atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_dir(path, overwrite=overwrite) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp / WEIGHTS))
        body = {"format": FORMAT, "retok_version": retok_version, **config}
        (tmp / CONFIG).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        for name, text in (extra or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
    return path


def read_config(path: str | Path, config: str, weights: str, *, what: str, make: str, version: int = FORMAT) -> dict[str, Any]:
    """The JSON ``config`` file of a saved folder that also holds ``weights``, with one clear error for anything else.

    ``what`` names the kind of folder, ``make`` the command that makes one; ``version`` is the format this retok reads.
    """
    path = Path(path)
    if not (path / config).is_file() or not (path / weights).is_file():
        raise RetokError(f"{str(path)!r} is not a {what} folder (it needs {config} and {weights}); make one with `{make}`")
    try:
        body = json.loads((path / config).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RetokError(f"{path / config} is not valid JSON ({e}); retrain or restore the folder") from None
    if body.get("format") != version:
        raise RetokError(f"{path / config} has format {body.get('format')!r}; this retok reads format {version}")
    return body


def read_folder(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors.torch import load_file

    config = read_config(path, CONFIG, WEIGHTS, what="hypernetwork", make="retok train-hypernet --model ... --train ... --out DIR")
    check_safetensors(Path(path) / WEIGHTS, fix="train the hypernetwork again (retok train-hypernet) or restore the folder")
    return load_file(str(Path(path) / WEIGHTS)), config


__all__ = ["CONFIG", "FORMAT", "WEIGHTS", "check_fingerprint", "fingerprint", "read_config", "read_folder", "source_identity", "write_folder"]
