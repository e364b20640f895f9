"""The lm-eval task folder: one YAML and one JSONL per task, plus the loader, built once and cached.

``task_folder()`` is what ``lm_eval --include_path`` takes (``retok assets --path lm-eval-tasks`` prints it): it
is built on first use under ``cache_dir()/lm-eval-tasks-<FORMAT>/`` with the cache's marker, lock and atomic
folder, like every other asset. :func:`write_task_folder` writes one anywhere (tests point it at tiny sources).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retok._version import __version__
from retok.atomic import atomic_dir, atomic_write_text
from retok.cache import build_lock, cache_dir, is_complete, say, write_marker
from retok.errors import RetokError

from .catalog import TAGS, TASKS, Sources, TaskSpec

#: bump when the items or the YAML change, so a cached folder of the old format is rebuilt
FORMAT = 1
ASSET = "lm-eval-tasks"
LOADER = "retok_task_data.py"
INDEX = "index.json"


def task_files(names: Sequence[str] = tuple(TASKS)) -> list[str]:
    """The files a folder of tasks ``names`` holds."""
    return [LOADER, INDEX, *(f"{n}.yaml" for n in names), *(f"{n}.jsonl" for n in names)]


def task_yaml(spec: TaskSpec) -> str:
    """The lm-eval task definition of ``spec``; its rows come from ``<name>.jsonl`` through the folder's loader."""
    tags = [tag for tag, names in TAGS.items() if spec.name in names]
    lines = [
        f"task: {spec.name}",
        "tag:", *(f"  - {tag}" for tag in tags),
        f"custom_dataset: !function {LOADER.removesuffix('.py')}.load",
        "dataset_kwargs:",
        f"  data_file: {spec.name}.jsonl",
        f"output_type: {spec.output_type}",
        "test_split: test",
    ]
    if spec.output_type == "loglikelihood_rolling":
        lines += ['doc_to_text: ""', "doc_to_target: text"]
    else:
        lines += ["doc_to_text: query", "doc_to_choice: choices", "doc_to_target: gold"]
    lines.append("metric_list:")
    higher = "false" if spec.output_type == "loglikelihood_rolling" else "true"
    for metric in spec.metrics:
        lines.append(f"  - metric: {metric}")
        if spec.output_type == "multiple_choice":
            lines += ["    aggregation: mean", f"    higher_is_better: {higher}"]
    lines += ["metadata:", f"  version: {FORMAT}.0", f"  description: {json.dumps(spec.what)}"]
    return "\n".join(lines) + "\n"


def write_task_folder(out: Path, sources: Sources, names: Sequence[str] = tuple(TASKS)) -> dict[str, Any]:
    """Write the tasks ``names`` (built from ``sources``) into the existing folder ``out``; return the index."""
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise RetokError(f"unknown task(s) {unknown}; retok's tasks are {', '.join(TASKS)}")
    shutil.copyfile(Path(__file__).with_name("lm_eval_data.py"), out / LOADER)
    index: dict[str, Any] = {"format": FORMAT, "retok_version": __version__, "tasks": {}}
    for name in names:
        spec = TASKS[name]
        rows = spec.build(sources)
        if not rows:
            raise RetokError(f"task {name} has no items: its sources are too small ({spec.what})")
        atomic_write_text(out / f"{name}.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        atomic_write_text(out / f"{name}.yaml", task_yaml(spec))
        index["tasks"][name] = {"what": spec.what, "items": len(rows), "metric": spec.metric, "chance": spec.chance}
    atomic_write_text(out / INDEX, json.dumps(index, indent=2, ensure_ascii=False) + "\n")
    return index


def _expected() -> dict[str, Any]:
    return {"asset": ASSET, "format": FORMAT}


def default_task_folder() -> Path:
    return cache_dir() / f"{ASSET}-{FORMAT}"


def task_folder(*, progress: bool = True) -> Path:
    """retok's lm-eval task folder, built from the real assets on first use (fetches LibreOffice help and FreeDict)."""
    out = default_task_folder()
    files = task_files()
    if is_complete(out, _expected(), files):
        return out
    with build_lock(out.name, progress=progress):
        if not is_complete(out, _expected(), files):
            say(f"building retok's lm-eval tasks into {out} (one time, ~30 s once the corpora are fetched) ...", progress=progress)
            with atomic_dir(out, overwrite=True) as tmp:
                index = write_task_folder(tmp, Sources(progress=progress))
                write_marker(tmp, {**_expected(), "files": files, "items": {n: t["items"] for n, t in index["tasks"].items()},
                                   "retok_version": __version__})
    return out


def read_index(folder: str | os.PathLike) -> dict[str, Any]:
    """The ``index.json`` of a task folder: every task's description, item count, metric and chance level."""
    path = Path(folder) / INDEX
    if not path.is_file():
        raise RetokError(f"{folder} is not a retok task folder (no {INDEX}); build one with `retok assets --fetch {ASSET}`")
    return json.loads(path.read_text(encoding="utf-8"))
