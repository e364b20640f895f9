"""The ZeTT hypernetwork as a :class:`retok.transfer.row_predictors.RowPredictor` (``make_predictor("hypernet", source, hypernet=HN_DIR)``).

Rows for tokens given only as pieces (dynamic merges, a million-entry vocabulary): FVT plus the
hypernetwork's learned correction, in chunks, exactly as the ``hypernet`` initializer predicts a
transplanted vocabulary's new rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from retok.errors import RetokError
from retok.transfer.embeddings import TokenEmbeddings
from retok.transfer.row_predictors import PREDICTORS, check_pieces, table_digest

from .model import Hypernet, load_hypernet


@dataclass
class HypernetPredictor:
    """A trained hypernetwork over ``source``'s tables; refused unless it was trained for them (fingerprint)."""

    source: TokenEmbeddings
    hypernet: str | None = None
    chunk: int = 4096
    name: str = "hypernet"
    net: Hypernet = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.hypernet:
            raise RetokError("the hypernet predictor needs the hypernetwork folder: hypernet='HN_DIR' (CLI: --hypernet HN_DIR); "
                             "train one with `retok train-hypernet --model M --train FILE --out HN_DIR`")
        self.net = load_hypernet(self.hypernet)
        self.net.check_source(self.source.input, self.source.output, where=str(self.hypernet))

    def predict(self, pieces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        pieces = check_pieces(pieces, self.source.input.shape[0])
        return self.net.predict(self.source.input, self.source.output, pieces, chunk=self.chunk)

    def multiword_warning(self) -> str | None:
        """What to tell a user who asks this hypernetwork for multi-word rows it was never trained for (None if it was)."""
        info = self.net.training_info
        trained = info.get("multiword_entries", float(info.get("config", {}).get("multiword", 0.0)) > 0)  # older folders: the config
        if trained:
            return None
        return (f"the hypernetwork {self.hypernet} was trained without multi-word steps (--multiword 0, or text that grew no multi-word entries): its rows for entries that "
                "span words win for the wrong reasons (measured: 44% new entries, but degenerate text, distinct 4-grams 0.38 "
                "against the base model's 0.56); train one with `retok train-hypernet` (multi-word steps are on by default) or continue "
                "this one with `retok train-hypernet --init HN --stage1-steps 0`")

    def fingerprint(self) -> str:
        weights = [p.detach() for p in self.net.state_dict().values()]
        return f"hypernet-{table_digest(self.source.input, self.source.output, *weights)}"


PREDICTORS.add("hypernet", HypernetPredictor)

__all__ = ["HypernetPredictor"]
