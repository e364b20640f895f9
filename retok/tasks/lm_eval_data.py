"""The data loader of retok's lm-eval task folder (copied into it as ``retok_task_data.py``).

Every task YAML there names ``custom_dataset: !function retok_task_data.load`` and its JSONL file in
``dataset_kwargs``; the file is read from the folder this module sits in, so the folder can be moved or copied
(``lm_eval --include_path <folder>``). Nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def load(data_file: str, **_: Any) -> dict[str, Any]:
    """``{"test": datasets.Dataset}`` of the JSONL rows in ``data_file`` (a file name in this folder)."""
    import datasets

    with open(HERE / data_file, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {"test": datasets.Dataset.from_list(rows)}
