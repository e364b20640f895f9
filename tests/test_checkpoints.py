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
    with pytest.raises(RetokError, match=r"made with other settings \(vocab_size: 100 -> 200\).*add --fresh to discard it"):
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


def stale(work, settings):
    """What a run killed before its first checkpoint leaves: its settings.json and nothing else."""
    resume_or_start(work, settings, log=lambda _: None)
    return work


def test_a_stale_partial_of_other_settings_is_discarded_with_overwrite_and_refused_without(tmp_path):
    work = stale(tmp_path / "run.partial", {"lr": 0.1})
    with pytest.raises(RetokError, match="add --fresh to discard it and start over"):
        resume_or_start(work, {"lr": 0.2}, log=lambda _: None)
    said = []
    assert resume_or_start(work, {"lr": 0.2}, restart="other", log=said.append) is False
    assert json.loads((work / "settings.json").read_text()) == {"lr": 0.2}
    assert said == [f"retok: discarded {work}, an interrupted run (--overwrite; it was made with other settings)"]


def test_overwrite_resumes_a_partial_of_the_same_settings_and_fresh_discards_it(tmp_path):
    work = stale(tmp_path / "run.partial", {"lr": 0.1})
    (work / "state.pt").write_bytes(b"progress")
    said = []
    assert resume_or_start(work, {"lr": 0.1}, restart="other", log=said.append) is True
    assert (work / "state.pt").exists() and said == [f"retok: resuming the interrupted run in {work} (add --fresh to discard it and start over)"]
    assert resume_or_start(work, {"lr": 0.1}, restart="always", log=said.append) is False
    assert not (work / "state.pt").exists() and "(--fresh)" in said[-1]


def test_restart_rule_follows_the_flags():
    from retok.training.checkpoints import restart_rule

    assert restart_rule() == "never" and restart_rule(overwrite=True) == "other" and restart_rule(overwrite=True, fresh=True) == "always"
