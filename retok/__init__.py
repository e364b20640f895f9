"""retok: tokenizer transfer for pretrained language models.

>>> import retok
>>> t = retok.transplant("path/to/model", "path/to/new_tokenizer", method="fvt")
>>> t.save_pretrained("out")

The package is laid out by capability, in the order the data flows:

* ``retok.vocab``: tokenizers, canonical token keys and the alignment of two vocabularies, tokenizer training;
* ``retok.assets``: the real models and corpora, fetched from package registries and cached;
* ``retok.transfer``: embedding transfer (``transplant``, the initializers, donors, static word vectors);
* ``retok.training``: continued training after the swap (the one trainer, LoRA, distillation);
* ``retok.adaptive``: adaptive vocabularies (LZW, dynamic merges, the million-entry vocabulary);
* at the top: the small cross-cutting modules (errors, atomic outputs, evaluation, loading, the CLI).

Importing ``retok`` is instant: the public names below, and the subpackages and modules, are loaded on
first use (PEP 562), so the command line starts without importing torch and transformers. Module paths
from before this layout (``retok.lzw``, ...) still import until 0.3 (:mod:`retok.moved`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__
from .errors import RetokError
from .lazy import lazy_attributes
from .moved import RETOK_MOVED, install
from .transfer.transplant import Transplanted, read_retok_config, transplant  # light; binds the function over the submodule

install(RETOK_MOVED)  # old module paths (retok.lzw, ...) keep working until 0.3; see retok.moved

#: public name -> the module that defines it
_EXPORTS = {
    "TokenEmbeddings": "retok.transfer.embeddings",
    "EvalResult": "retok.eval",
    "bits_per_byte": "retok.eval",
    "INITIALIZERS": "retok.transfer.initializers",
    "InitConfig": "retok.transfer.initializers",
    "InitReport": "retok.transfer.initializers",
    "InitResult": "retok.transfer.initializers",
    "MethodSpec": "retok.transfer.initializers",
    "init_embeddings": "retok.transfer.initializers",
    "make_config": "retok.transfer.initializers",
    "register_initializer": "retok.transfer.initializers",
    "FVTConfig": "retok.transfer.initializers.fvt",
    "GaussianConfig": "retok.transfer.initializers.gaussian",
    "MeanConfig": "retok.transfer.initializers.mean",
    "save_tokenizer": "retok.vocab.train",
    "train_tokenizer": "retok.vocab.train",
    "CanonicalVocab": "retok.vocab.canonical",
    "VocabAlignment": "retok.vocab.canonical",
    "make_predictor": "retok.transfer.row_predictors",
    "RowCache": "retok.transfer.row_predictors",
    "continuation_bits_per_byte": "retok.adaptive.dynamic",
    "merge_texts": "retok.adaptive.dynamic",
    "LargeVocabConfig": "retok.adaptive.large_vocab.config",
    "build_large_vocab": "retok.adaptive.large_vocab.build",
    "LargeVocab": "retok.adaptive.large_vocab.decode",
    "align_texts": "retok.training.distill.chunks",
    "align_conversation": "retok.training.distill.chunks",
    "pack_aligned": "retok.training.distill.blocks",
    "alm_loss": "retok.training.distill.losses",
    "Donor": "retok.transfer.donor",
    "load_donor": "retok.transfer.donor",
}
if TYPE_CHECKING:  # what type checkers and IDEs see; at run time each name loads on first use
    from .transfer.embeddings import TokenEmbeddings
    from .eval import EvalResult, bits_per_byte
    from .transfer.initializers import INITIALIZERS, InitConfig, InitReport, InitResult, MethodSpec, init_embeddings, make_config, register_initializer
    from .transfer.initializers.fvt import FVTConfig
    from .transfer.initializers.gaussian import GaussianConfig
    from .transfer.initializers.mean import MeanConfig
    from .vocab.train import save_tokenizer, train_tokenizer
    from .vocab.canonical import CanonicalVocab, VocabAlignment
    from .transfer.row_predictors import RowCache, make_predictor
    from .adaptive.dynamic import continuation_bits_per_byte, merge_texts
    from .adaptive.large_vocab.config import LargeVocabConfig
    from .adaptive.large_vocab.build import build_large_vocab
    from .adaptive.large_vocab.decode import LargeVocab
    from .training.distill.chunks import align_conversation, align_texts
    from .training.distill.blocks import pack_aligned
    from .training.distill.losses import alm_loss
    from .transfer.donor import Donor, load_donor


__getattr__, __dir__ = lazy_attributes(__name__, __path__, _EXPORTS, moved=(old.removeprefix("retok.") for old in RETOK_MOVED))


def methods() -> list[MethodSpec]:
    """Every registered initializer that can be loaded here, sorted by name.

    An optional method whose dependencies are missing is left out; ``INITIALIZERS.get(name)``
    says what to install.
    """
    from .transfer.initializers import INITIALIZERS

    specs = []
    for name in INITIALIZERS.names():
        try:
            specs.append(INITIALIZERS.get(name))
        except RetokError:
            continue
    return specs


__all__ = [
    "__version__",
    "CanonicalVocab",
    "Donor",
    "EvalResult",
    "FVTConfig",
    "GaussianConfig",
    "INITIALIZERS",
    "InitConfig",
    "InitReport",
    "InitResult",
    "LargeVocab",
    "LargeVocabConfig",
    "MeanConfig",
    "MethodSpec",
    "RetokError",
    "RowCache",
    "TokenEmbeddings",
    "Transplanted",
    "VocabAlignment",
    "align_conversation",
    "align_texts",
    "alm_loss",
    "bits_per_byte",
    "build_large_vocab",
    "continuation_bits_per_byte",
    "init_embeddings",
    "load_donor",
    "make_config",
    "make_predictor",
    "merge_texts",
    "methods",
    "pack_aligned",
    "read_retok_config",
    "register_initializer",
    "save_tokenizer",
    "train_tokenizer",
    "transplant",
]
