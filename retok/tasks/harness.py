"""Run lm-eval-harness tasks on a saved model folder, with the protocol retok's own evaluation uses.

:func:`evaluate` loads the folder once and wraps it in lm-eval's ``hf`` model (``HFLM``), so the tasks see
exactly what ``lm_eval --model hf --model_args pretrained=DIR`` sees, with two settings of retok's protocol:

* ``prefix_token_id``: the token before the first rolling window and before every empty context (the unconditional
  requests of ``acc_mutual_info``) is the document separator :func:`retok.eval.document_separator` picks (for a
  transplant, the token carrying the source model's separator row, ``retok_config.json``), where lm-eval would take
  the tokenizer's BOS (SmolLM2's ``<|im_start|>``); a non-empty context is scored as lm-eval scores it, unprefixed;
* ``max_length``: rolling log-likelihood tasks run with windows of ``window`` tokens (256, ``retok eval``'s
  default), the multiple-choice tasks with the model's own context length.

The one protocol difference that remains on the rolling tasks: lm-eval starts every window after the first with
the last token of the previous window instead of the separator. :func:`retok.eval.bits_per_byte` with
``window_start="previous"`` scores those windows and equals lm-eval's ``bits_per_byte`` (tested); how far the two
protocols are apart on real models is measured by ``recipes/task_check.py``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retok.errors import RetokError

from .catalog import TAGS, TASKS

logger = logging.getLogger(__name__)


@dataclass
class TaskResults:
    """lm-eval's results dict, with the per-task metrics read out."""

    raw: dict[str, Any]

    def metrics(self, task: str) -> dict[str, float]:
        """``{"acc": 0.61, "acc_stderr": 0.03, ...}`` of ``task`` (lm-eval's ``"acc,none"`` keys without the filter)."""
        if task not in self.raw["results"]:
            raise RetokError(f"no results for task {task!r}; the run has {sorted(self.raw['results'])}")
        out = {}
        for key, value in self.raw["results"][task].items():
            if "," in key and isinstance(value, (int, float)):
                metric, _, _ = key.partition(",")
                out[metric] = float(value)
        return out

    def table(self) -> str:
        """lm-eval's own results table (Markdown)."""
        from lm_eval.utils import make_table

        return make_table(self.raw)


@contextmanager
def lm_eval_output(progress: bool) -> Iterator[None]:
    """lm-eval's logging at WARNING (its INFO lines are per-request chatter); with ``progress`` off, its stderr too.

    lm-eval draws its bars unconditionally and runs ``git describe`` (which prints "fatal: not a git repository"
    outside a checkout), so without progress the block's file descriptor 2 goes to /dev/null; errors still raise.
    """
    root = logging.getLogger("lm_eval")
    level = root.level
    root.setLevel(logging.WARNING if progress else logging.ERROR)
    saved = None
    if not progress:
        sys.stderr.flush()
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
    try:
        yield
    finally:
        if saved is not None:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        root.setLevel(level)


def expand(tasks: Sequence[str]) -> list[str]:
    """Task names with retok's tags (``retok``, ``retok_choice``, ``retok_bpb``) expanded, in order, once each."""
    out: list[str] = []
    for name in tasks:
        out.extend(TAGS.get(name, [name]))
    return list(dict.fromkeys(out))


def check_tasks(tasks: Sequence[str]) -> list[str]:
    """The expanded task list; a name that looks like a misspelled retok task is refused with the closest one."""
    from retok._registry import closest

    names = expand(tasks)
    if not names:
        raise RetokError("no tasks given; pass --tasks NAME[,NAME...] (retok eval --tasks list shows retok's)")
    for name in names:
        if name.startswith("retok") and name not in TASKS:
            close = closest(name, [*TASKS, *TAGS])
            raise RetokError(f"unknown retok task {name!r}" + (f" (did you mean {close!r}?)" if close else "")
                             + f"; retok's tasks are {', '.join(TASKS)}")
    return names


def evaluate(
    model_dir: str | os.PathLike,
    tasks: Sequence[str],
    *,
    task_folder: str | os.PathLike | None = None,
    batch_size: int = 16,
    window: int = 256,
    max_length: int | None = None,
    limit: int | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    separator: str | int | None = None,
    progress: bool = True,
) -> TaskResults:
    """Run lm-eval ``tasks`` on the model folder ``model_dir`` and return its results.

    Args:
        model_dir: a saved HF folder (a retok transplant or any causal LM) or hub id.
        tasks: task names (retok's, its tags, or any task lm-eval knows).
        task_folder: where retok's task definitions are (default: the cached folder, built on first use).
        batch_size: requests per forward pass.
        window: tokens per window of the rolling log-likelihood tasks (retok's protocol: 256).
        max_length: context length of the other tasks (default: the model's).
        limit: at most this many items per task (for a quick look; the reported scores are then not comparable).
        device, dtype: where and in which precision the model runs.
        separator: the prefix token (default: :func:`retok.eval.document_separator`, the saved one for a transplant).
        progress: show lm-eval's progress bars.
    """
    names = check_tasks(tasks)
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError as e:
        raise RetokError(f"lm-eval is not installed ({e}); pip install 'retok[eval]' (lm-eval 0.4.x)") from e
    from retok.eval import document_separator
    from retok.loading import load_model, load_tokenizer
    from retok.transfer.embeddings import check_tokenizer_fits
    from retok.transfer.transplant import saved_separator

    from .folder import read_index, task_folder as cached_task_folder

    folder = Path(task_folder) if task_folder is not None else cached_task_folder(progress=progress)
    missing = [n for n in names if n in TASKS and n not in read_index(folder)["tasks"]]
    if missing:
        raise RetokError(f"the task folder {folder} has no {', '.join(missing)}; rebuild it (retok assets --fetch lm-eval-tasks)")
    manager = TaskManager(include_path=str(folder), include_defaults=any(n not in TASKS for n in names))
    unknown = [n for n in names if n not in manager.all_tasks]
    if unknown:
        from retok._registry import did_you_mean

        raise RetokError(f"lm-eval knows no task {unknown[0]!r}.{did_you_mean(unknown[0], list(manager.all_tasks))} "
                         "`lm_eval ls tasks` lists lm-eval's own; retok's are in `retok eval --tasks list`")
    model = load_model(model_dir, dtype=dtype).to(device)
    tokenizer = load_tokenizer(model_dir)
    check_tokenizer_fits(model, tokenizer, what=f"the tokenizer in {model_dir}")
    if separator is None and Path(model_dir).is_dir():
        separator = saved_separator(model_dir)
    prefix = document_separator(tokenizer, separator)
    rolling = [n for n in names if n in TASKS and TASKS[n].output_type == "loglikelihood_rolling"]
    groups = [(rolling, window), ([n for n in names if n not in rolling], max_length)]
    merged: dict[str, Any] = {}
    for group, length in groups:
        if not group:
            continue
        with lm_eval_output(progress):
            lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, max_length=length, prefix_token_id=prefix,
                      device=device)
            raw = lm_eval.simple_evaluate(model=lm, tasks=group, task_manager=manager, limit=limit, log_samples=False,
                                          bootstrap_iters=1000)
        if raw is None:
            raise RetokError("lm-eval returned no results")
        for key in ("results", "versions", "n-shot", "higher_is_better", "n-samples", "configs"):
            merged.setdefault(key, {}).update(raw.get(key, {}))
        merged.setdefault("config", raw.get("config", {}))
    return TaskResults(merged)
