"""recipes/payoff.py renders its report for any subset of arms, and checks that it can before any training."""

from __future__ import annotations

import importlib.util
from itertools import combinations
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("payoff", ROOT / "recipes" / "payoff.py")
payoff = importlib.util.module_from_spec(spec)
spec.loader.exec_module(payoff)


def row(name: str, bpb: float) -> dict:
    return {"run": name, "setup": name, "bpb_before": 3.0, "bpb_after": bpb, "tokens_per_byte": 0.2, "train_bytes": 100,
            "train_tokens": 64, "steps": 4, "train_seconds": 1.0, "peak_rss_mb": 10.0}


@pytest.mark.parametrize("names", [list(c) for n in (1, 2, 3) for c in combinations(payoff.ARMS[:4], n)])
def test_any_subset_of_arms_has_a_report(names):
    payoff.check_report(names)  # raises if the table cannot be built


def test_the_comparison_columns_appear_only_with_the_rows_they_compare_to():
    alone = payoff.report([row("transplanted", 2.0)])
    assert "vs control" not in alone and "gap closed" not in alone and "transplanted" in alone
    both = payoff.report([row("control", 1.5), row("transplanted", 2.0), row("alm", 1.75)])
    assert "| vs control | gap closed |" in both
    assert "+0.500" in both and "50%" in both  # alm closes half of the transplant's gap to the control
