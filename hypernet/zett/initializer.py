"""``hypernet``: the ZeTT hypernetwork as a retok initializer (``retok transplant --method hypernet --hypernet HN_DIR``).

Minixhofer, Ponti and Vulić, *Zero-Shot Tokenizer Transfer*, NeurIPS 2024, https://arxiv.org/abs/2405.07883.
Every row that is not a canonical match or a special token is predicted from the token's pieces
under the old tokenizer (:attr:`retok.vocab.VocabAlignment.new_pieces`), in chunks, so a 262k-token
vocabulary never holds more than one chunk's activations. Tokens that nothing in the old
vocabulary covers get the FVT fallback (the mean row) and are reported as ``fallback-mean``. The
hypernetwork must have been trained for this source model's embeddings (checked by fingerprint).
"""

from __future__ import annotations

from dataclasses import dataclass

from retok.errors import RetokError
from retok.options import option
from retok.transfer.embeddings import TokenEmbeddings
from retok.transfer.initializers import NewRows, register_initializer
from retok.transfer.initializers.base import InitConfig
from retok.transfer.initializers.subword import fvt_rows
from retok.vocab.canonical import VocabAlignment
from retok.vocab.pieces import piece_counts

from .model import load_hypernet


@dataclass(frozen=True, kw_only=True)
class HypernetConfig(InitConfig):
    hypernet: str | None = option(None, "hypernetwork folder written by `retok train-hypernet` (required)")
    chunk: int = option(4096, "target tokens predicted at once (bounds the memory of a large vocabulary)", min=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.hypernet:  # refused here, before any model is loaded
            raise RetokError("method hypernet needs the hypernetwork folder: --hypernet HN_DIR (Python: hypernet='HN_DIR'); "
                             "train one with `retok train-hypernet --model M --train FILE --out HN_DIR`")


@register_initializer("hypernet", config=HypernetConfig, pretty_name="ZeTT hypernetwork", paper="https://arxiv.org/abs/2405.07883")
def hypernet(source: TokenEmbeddings, alignment: VocabAlignment, config: HypernetConfig) -> NewRows:
    """Copy matches; new rows = a trained hypernetwork's prediction from the token's pieces (FVT plus a learned correction)."""
    net = load_hypernet(config.hypernet)
    net.check_source(source.input, source.output, where=config.hypernet)
    rows = fvt_rows(source, alignment)  # the floor: tokens without pieces keep the FVT fallback
    has = piece_counts(alignment.new_pieces) > 0
    if has.any():
        base = (rows.input[has], None if rows.output is None else rows.output[has])  # FVT's rows: the correction is added to them
        got_in, got_out = net.predict(source.input, source.output, alignment.new_pieces[has], chunk=config.chunk, base=base)
        rows.input[has] = got_in.to(rows.input.dtype)
        if rows.output is not None:
            rows.output[has] = got_out.to(rows.output.dtype)
    provenance = ["hypernet" if h else p for h, p in zip(has.tolist(), rows.provenance)]
    details = {"hypernet": str(config.hypernet), "trained_for": net.source.get("name"),
               "training_seconds": net.training_info.get("seconds", {}).get("total")}
    return NewRows(rows.input, rows.output, provenance, details)


__all__ = ["HypernetConfig", "hypernet", "load_hypernet"]
