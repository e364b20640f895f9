"""The sanity floor of retok's choice tasks: the real SmolLM2-135M scores clearly above chance on the two translation tasks."""

from __future__ import annotations

import pytest

ITEMS = 48  # the first items of each task (md5 order): enough for a floor 2 standard errors above chance


@pytest.mark.slow
@pytest.mark.parametrize(("task", "floor"), [("retok_translate_en_de", 0.40), ("retok_parallel_en_de", 0.40)])
def test_smollm2_is_clearly_above_chance(task, floor):
    from retok import assets
    from retok.tasks import TASKS, evaluate

    metric = TASKS[task].metric
    score = evaluate(assets.smollm2(progress=False), [task], limit=ITEMS, batch_size=8, progress=False).metrics(task)[metric]
    assert score >= floor > TASKS[task].chance, f"{task} {metric} {score:.3f} (chance {TASKS[task].chance})"
