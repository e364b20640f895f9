import pytest

from retok.errors import RetokError
from retok.loading import load_model, load_tokenizer


def test_missing_folder_fails_fast_with_a_clear_message(tmp_path):
    with pytest.raises(RetokError, match=r"neither a folder with config.json nor a reachable hub id.*does not exist"):
        load_model(tmp_path / "nope")
    with pytest.raises(RetokError, match=r"the folder has no config.json"):
        load_model(tmp_path)
    with pytest.raises(RetokError, match=r"the folder has no tokenizer_config.json"):
        load_tokenizer(tmp_path)


def test_a_file_instead_of_a_folder_is_explained(tmp_path):
    file = tmp_path / "model.safetensors"
    file.write_bytes(b"x")
    with pytest.raises(RetokError, match="it is a file: pass the folder"):
        load_model(file)


def test_unknown_dtype_lists_the_choices(tmp_path):
    with pytest.raises(RetokError, match=r"unknown dtype 'fp8'; choose one of float32"):
        load_model(tmp_path, dtype="fp8")
