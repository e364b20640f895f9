"""recipes/payoff.py renders its report for any subset of rows, and checks that it can before any training."""

from __future__ import annotations

import importlib.util
import sys
from itertools import combinations
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("payoff", ROOT / "recipes" / "payoff.py")
payoff = importlib.util.module_from_spec(spec)
sys.modules["payoff"] = payoff  # its dataclasses look their module up there
spec.loader.exec_module(payoff)


def row(name: str, bpb: float, en: float | None = None, acc: float | None = None) -> dict:
    out = {"run": name, "setup": name, "bpb_before": 3.0, "bpb_after": bpb, "tokens_per_byte": 0.2, "steps": 4, "train_seconds": 1.0,
           "peak_rss_mb": 10.0}
    if en is not None:
        out["bpb_en"] = en
    if acc is not None:
        out["tasks"] = {"retok_cloze_de": {"acc": acc, "acc_stderr": 0.01}}
    return out


@pytest.mark.parametrize("names", [list(c) for n in (1, 2, 3) for c in combinations(["original", *list(payoff.ARMS)[:4]], n)])
def test_any_subset_of_rows_has_a_report(names):
    payoff.check_report(names)  # raises if the table cannot be built


def test_the_comparison_columns_appear_only_with_the_rows_they_compare_to():
    alone = payoff.report([row("fvt+lm", 2.0)])
    assert "de vs control" not in alone and "en BPB lost" not in alone and "fvt+lm" in alone
    both = payoff.report([row("original", 1.9, en=1.2), row("control", 1.5, en=1.3), row("fvt+lm", 2.0, en=1.5, acc=0.5)])
    assert "| de vs control |" in both and "| en BPB lost |" in both
    assert "+0.500" in both  # fvt+lm against the control, in German
    assert "+0.300" in both and "+0.100" in both  # English lost against the original model
    assert "0.500 ± 0.010" in both  # the task's headline metric with its standard error


def test_every_arm_names_a_start_the_recipe_builds():
    assert {arm.start for arm in payoff.ARMS.values()} <= set(payoff.ZERO_SHOT)
