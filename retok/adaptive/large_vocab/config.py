"""The options of ``retok large-vocab build`` (torch-free, so that the command line starts fast)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from retok.options import Checked, option

IVF_ABOVE = 200_000  # index="auto": IVF above this many entries, HNSW at or below
FEEDS = ("rows", "pieces")  # how decoding reads a chosen entry back: its predicted input row, or its base pieces


@dataclass(frozen=True, kw_only=True)
class LargeVocabConfig(Checked):
    """How ``retok large-vocab build`` grows the vocabulary, predicts its rows and indexes them."""

    size: int = option(1_000_000, "entries in the vocabulary, the base vocabulary included", min=1)
    predictor: str = option("compose", "embedding predictor for the new entries: fvt, compose, hypernet")
    hypernet: str | None = option(None, "with predictor hypernet: the hypernetwork folder")
    min_count: int = option(2, "a pair is merged only if it occurs at least this often in the corpus", min=1)
    max_pieces: int = option(16, "the most base tokens one entry may span", min=2)
    chunk: int = option(131_072, "rows predicted, and rows added to the index, per checkpoint", min=1)
    index: Literal["auto", "ivf", "hnsw"] = option("auto", "faiss index: auto (ivf above 200k entries, else hnsw), ivf, hnsw")
    nlist: int | None = option(None, "IVF cells (default 2 sqrt(size))", min=1)
    ivf_codes: Literal["flat", "sq8"] = option("flat", "IVF storage: flat float rows, or sq8 8-bit codes (4x less memory)")
    hnsw_m: int = option(32, "HNSW neighbours per node", min=2)
    ef_construction: int = option(80, "HNSW build beam width", min=1)
    nprobe: int = option(64, "IVF cells searched per step (more: better agreement with exact scoring, slower)", min=1)
    ef_search: int = option(128, "HNSW search beam width", min=1)
    seed: int = option(0, "seed of the IVF training sample", min=0)

    def index_kind(self) -> str:
        return self.index if self.index != "auto" else ("ivf" if self.size > IVF_ABOVE else "hnsw")

    def cells(self) -> int:
        return self.nlist or max(1, round(2 * math.sqrt(self.size)))


__all__ = ["FEEDS", "IVF_ABOVE", "LargeVocabConfig"]
