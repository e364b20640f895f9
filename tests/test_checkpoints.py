"""The one checkpoint-folder scheme: settings recorded once, other settings refused, results kept, states atomic."""

from __future__ import annotations

import json

import pytest
import torch

from retok import RetokError
from retok.training.checkpoints import cached_json, load_state, resume_or_start, save_state


def test_a_rerun_with_the_same_settings_resumes_and_other_settings_are_refused(tmp_path):
    work = tmp_path / "run.partial"
    resume_or_start(work, {"vocab_size": 100, "methods": ("mean", "fvt")})
    assert json.loads((work / "settings.json").read_text()) == {"vocab_size": 100, "methods": ["mean", "fvt"]}
    resume_or_start(work, {"vocab_size": 100, "methods": ("mean", "fvt")})  # tuples compare as the JSON lists they became
    with pytest.raises(RetokError, match=r"made with other settings \(vocab_size: 100 -> 200\).*delete that folder"):
        resume_or_start(work, {"vocab_size": 200, "methods": ("mean", "fvt")})


def test_cached_json_computes_once(tmp_path):
    calls = []
    compute = lambda: calls.append(1) or {"bpb": 1.5}  # noqa: E731
    assert cached_json(tmp_path / "row.json", compute) == cached_json(tmp_path / "row.json", compute) == {"bpb": 1.5}
    assert len(calls) == 1


def test_saved_state_round_trips_and_replaces_the_last_one_without_a_temporary_file(tmp_path):
    path = tmp_path / "state.pt"
    save_state(path, {"step": 1, "w": torch.zeros(2)})
    save_state(path, {"step": 2, "w": torch.ones(2)})
    state = load_state(path)
    assert state["step"] == 2 and torch.equal(state["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]
