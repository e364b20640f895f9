"""The checkpoint path on the real models: SmolLM2-135M (float32) and Gemma-3-270m (bfloat16).

Each is transplanted onto the other's tokenizer twice, from its folder (the checkpoint path, nothing
but the embeddings read) and loaded in memory (``lazy=False``), and every written tensor must be
bit-identical; onto its own tokenizer the checkpoint path writes every tensor byte-identical.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retok import transplant
from retok.assets.store import gemma3_270m, smollm2
from retok.loading import load_tokenizer
from retok.testing import saved_tensors

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folders():
    return {"smollm2": Path(smollm2()), "gemma": Path(gemma3_270m())}


@pytest.mark.parametrize(("model", "onto"), [("smollm2", "gemma"), ("gemma", "smollm2")])
def test_checkpoint_path_and_in_memory_path_write_bit_identical_tensors(tmp_path, folders, model, onto):
    tokenizer = load_tokenizer(folders[onto])
    lazy = transplant(folders[model], tokenizer, "fvt")
    assert lazy.in_memory is None
    lazy.save_pretrained(tmp_path / "lazy")
    transplant(folders[model], tokenizer, "fvt", lazy=False).save_pretrained(tmp_path / "memory")
    a, b = saved_tensors(tmp_path / "lazy"), saved_tensors(tmp_path / "memory")
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []


@pytest.mark.parametrize("model", ["smollm2", "gemma"])
def test_checkpoint_path_onto_its_own_tokenizer_writes_every_tensor_unchanged(tmp_path, folders, model):
    transplant(folders[model], folders[model], "fvt").save_pretrained(tmp_path / "out")
    source, out = saved_tensors(folders[model]), saved_tensors(tmp_path / "out")
    assert source.keys() == out.keys()
    assert [k for k in source if source[k] != out[k]] == []
