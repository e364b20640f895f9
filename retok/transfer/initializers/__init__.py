"""The initializer registry. Importing this package registers every built-in method.

Adding a method: one new file that calls ``@register_initializer`` and one import line here.
"""

from . import compose, focus, fvt, gaussian, linear, mean, omp, tokenadapt, wechsel  # noqa: F401  (registers the methods)
from .base import (
    INITIALIZERS,
    InitConfig,
    InitReport,
    InitResult,
    MethodSpec,
    NewRows,
    init_embeddings,
    make_config,
    register_initializer,
)

# learned predictors live in a separate package of that name (it imports retok, never the reverse)
INITIALIZERS.register_lazy("hypernet", "hypernet.zett.initializer:hypernet", install="install retok with its hypernet package (pip install retok)")

__all__ = [
    "INITIALIZERS",
    "InitConfig",
    "InitReport",
    "InitResult",
    "MethodSpec",
    "NewRows",
    "init_embeddings",
    "make_config",
    "register_initializer",
]
