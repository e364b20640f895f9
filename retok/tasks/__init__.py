"""Downstream tasks for lm-eval-harness, built from the real local assets (held-out text only), and a runner.

* :mod:`.items`: the task items, pure functions over paragraphs, pairs and word counts;
* :mod:`.catalog`: :data:`TASKS` (name -> :class:`TaskSpec`: output type, metric, builder) and their sources;
* :mod:`.folder`: the lm-eval task folder (YAML + JSONL + loader), built once and cached
  (``retok assets --path lm-eval-tasks``, for ``lm_eval --include_path``);
* :mod:`.harness`: :func:`evaluate`, lm-eval's ``hf`` model on a saved folder with retok's protocol
  (``retok eval --model DIR --tasks ...``).

Importing this package does not import lm-eval; :func:`evaluate` does.
"""

from __future__ import annotations

from .catalog import TAGS, TASKS, Sources, TaskSpec
from .folder import read_index, task_folder, write_task_folder
from .harness import TaskResults, check_tasks, evaluate, expand

__all__ = ["TAGS", "TASKS", "Sources", "TaskResults", "TaskSpec", "check_tasks", "evaluate", "expand", "read_index", "task_folder",
           "write_task_folder"]
