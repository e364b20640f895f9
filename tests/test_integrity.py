"""Damaged saved files are refused in one line that names them, before numpy, safetensors or torch trips over them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from retok.cli import main
from retok.errors import RetokError
from retok.integrity import check_folder, check_json, check_npy, check_safetensors
from retok.testing import tiny_llama, tiny_tokenizer
from retok.training.checkpoints import load_state, save_state


def truncate(path: Path, keep: int | None = None) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 if keep is None else keep])
    return path


@pytest.fixture
def weights(tmp_path) -> Path:
    save_file({"a": torch.zeros(8, 4), "b": torch.ones(3)}, tmp_path / "w.safetensors")
    return tmp_path / "w.safetensors"


def test_whole_files_pass(weights, tmp_path):
    np.save(tmp_path / "rows.npy", np.zeros((5, 3), dtype=np.float16))
    (tmp_path / "c.json").write_text('{"x": 1}')
    check_safetensors(weights, fix="f")
    check_npy(tmp_path / "rows.npy", fix="f")
    assert check_json(tmp_path / "c.json", fix="f") == {"x": 1}
    check_folder(tmp_path, fix="f")


@pytest.mark.parametrize("keep", [None, 4, 20])
def test_a_truncated_safetensors_file_is_named(weights, keep):
    truncate(weights, keep)
    with pytest.raises(RetokError, match=r"w\.safetensors is damaged \(.*\); restore it"):
        check_safetensors(weights, fix="restore it")


def test_a_safetensors_file_with_a_garbage_header_is_named(tmp_path):
    (tmp_path / "g.safetensors").write_bytes((10).to_bytes(8, "little") + b"not json!!" + b"\0" * 16)
    with pytest.raises(RetokError, match="g.safetensors is damaged .*header is not valid JSON"):
        check_safetensors(tmp_path / "g.safetensors", fix="f")


@pytest.mark.parametrize("keep", [None, 5, 0])
def test_a_truncated_npy_file_is_named(tmp_path, keep):
    np.save(tmp_path / "rows.npy", np.zeros((50, 8), dtype=np.float32))
    truncate(tmp_path / "rows.npy", keep)
    with pytest.raises(RetokError, match=r"rows\.npy is damaged"):
        check_npy(tmp_path / "rows.npy", fix="f")


def test_a_damaged_json_file_is_named(tmp_path):
    (tmp_path / "c.json").write_text('{"x": ')
    with pytest.raises(RetokError, match=r"c\.json is damaged \(not valid JSON"):
        check_json(tmp_path / "c.json", fix="f")


def test_a_model_folder_with_truncated_weights_is_refused_in_one_line(tmp_path, capsys):
    tok = tiny_tokenizer()
    tiny_llama(len(tok)).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    (tmp_path / "t.txt").write_text("some text to score\n")
    truncate(tmp_path / "m" / "model.safetensors")
    capsys.readouterr()
    assert main(["eval", "--model", str(tmp_path / "m"), "--text", str(tmp_path / "t.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.safetensors is damaged (truncated" in err[0], err


def test_a_damaged_training_state_is_refused_in_one_line(tmp_path):
    save_state(tmp_path / "state.pt", {"step": 3, "params": {"w": torch.zeros(100)}})
    assert load_state(tmp_path / "state.pt")["step"] == 3
    truncate(tmp_path / "state.pt")
    with pytest.raises(RetokError, match=r"state\.pt is damaged \(.*\); rerun with --fresh to discard .* and start over"):
        load_state(tmp_path / "state.pt")
