"""retok: tokenizer transfer for pretrained language models.

>>> import retok
>>> t = retok.transplant("path/to/model", "path/to/new_tokenizer", method="fvt")
>>> t.save_pretrained("out")
"""

from ._version import __version__
from .embeddings import TokenEmbeddings
from .errors import RetokError
from .eval import EvalResult, bits_per_byte
from .initializers import INITIALIZERS, InitConfig, InitReport, InitResult, MethodSpec, init_embeddings, make_config, register_initializer
from .initializers.fvt import FVTConfig
from .initializers.gaussian import GaussianConfig
from .initializers.mean import MeanConfig
from .tokenizer_training import save_tokenizer, train_tokenizer
from .transplant import Transplanted, read_retok_config, transplant
from .vocab import CanonicalVocab, VocabAlignment


def methods() -> list[MethodSpec]:
    """Every registered initializer that can be loaded here, sorted by name.

    An optional method whose dependencies are missing is left out; ``INITIALIZERS.get(name)``
    says what to install.
    """
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
    "EvalResult",
    "FVTConfig",
    "GaussianConfig",
    "INITIALIZERS",
    "InitConfig",
    "InitReport",
    "InitResult",
    "MeanConfig",
    "MethodSpec",
    "RetokError",
    "TokenEmbeddings",
    "Transplanted",
    "VocabAlignment",
    "bits_per_byte",
    "init_embeddings",
    "make_config",
    "methods",
    "read_retok_config",
    "register_initializer",
    "save_tokenizer",
    "train_tokenizer",
    "transplant",
]
