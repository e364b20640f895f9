"""Donor transplant: known answers of omp and linear, the donor checks, specials by role, the pad = eos case."""

import pytest
import torch

from retok.transfer.donor import Donor, load_donor
from retok.transfer.embeddings import TokenEmbeddings
from retok.errors import RetokError
from retok.transfer.initializers import init_embeddings
from retok.transfer.initializers.donor_view import shared_ids
from retok.transfer.initializers.omp import batch_omp, relative_residual
from retok.testing import tiny_donor, tiny_gemma_style_tokenizer, tiny_llama
from retok.transfer.transplant import special_id_updates, transplant
from retok.vocab.canonical import VocabAlignment


@pytest.fixture
def alignment(english_tokenizer, german_tokenizer):
    return VocabAlignment.build(english_tokenizer, german_tokenizer)


@pytest.fixture
def source(english_model, english_tokenizer):
    return TokenEmbeddings.from_model(english_model, english_tokenizer)


def donor_with(german_tokenizer, rows_in, rows_out=None):
    return Donor(TokenEmbeddings(german_tokenizer, rows_in, rows_out), "test-donor")


def sum_of_two_shared(alignment, donor_rows):
    """Make the first new token's donor row the sum of two shared tokens' donor rows -> (new id, (t1, s1), (t2, s2))."""
    tgt, src = shared_ids(alignment, donor_rows.shape[0], 10**9)
    new = alignment.new[0]
    donor_rows[new] = donor_rows[tgt[3]] + donor_rows[tgt[7]]
    return new, (int(tgt[3]), int(src[3])), (int(tgt[7]), int(src[7]))


# --------------------------------------------------------------------------- the solvers


def exact_omp(targets, atoms, k):
    """Textbook OMP, one target at a time: argmax |A^T r|, then least squares on the chosen atoms."""
    ids = []
    for t in targets.double():
        chosen, residual = [], t.clone()
        for _ in range(k):
            scores = (atoms.double() @ residual).abs()
            scores[chosen] = -1
            chosen.append(int(scores.argmax()))
            basis = atoms.double()[chosen].T
            residual = t - basis @ torch.linalg.lstsq(basis, t[:, None]).solution[:, 0]
        ids.append(chosen)
    return torch.tensor(ids)


def test_omp_with_a_full_search_every_step_takes_the_textbook_atoms():
    g = torch.Generator().manual_seed(0)
    atoms, targets = torch.randn(200, 24, generator=g), torch.randn(30, 24, generator=g)
    ids, coef = batch_omp(targets, atoms, 6, refresh=1, shortlist=8, batch=7)
    assert torch.equal(ids, exact_omp(targets, atoms, 6))


def test_omp_whose_shortlist_holds_every_atom_is_exact_at_any_refresh():
    g = torch.Generator().manual_seed(0)
    atoms, targets = torch.randn(60, 24, generator=g), torch.randn(30, 24, generator=g)
    exact_ids, exact_coef = batch_omp(targets, atoms, 10, refresh=1)
    ids, coef = batch_omp(targets, atoms, 10, refresh=5, shortlist=60)
    assert torch.equal(ids, exact_ids) and torch.allclose(coef, exact_coef, atol=1e-5)


def least_squares(targets: torch.Tensor, atoms: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The reference: a direct float64 lstsq of each target on its chosen atoms (ids == -1: coefficient 0)."""
    chosen = atoms[ids.clamp(min=0)].double().masked_fill((ids < 0)[..., None], 0.0)  # (b, k, D)
    solution = torch.linalg.lstsq(chosen.transpose(1, 2), targets.double()[..., None], driver="gelsd").solution[..., 0]
    return solution.masked_fill(ids < 0, 0.0).float()


def test_omp_coefficients_from_the_qr_factors_equal_a_direct_least_squares_refit():
    g = torch.Generator().manual_seed(2)
    atoms, targets = torch.randn(300, 32, generator=g), torch.randn(40, 32, generator=g)
    ids, coef = batch_omp(targets, atoms, 12, refresh=4, shortlist=40, batch=16)
    assert torch.allclose(coef, least_squares(targets, atoms, ids), atol=1e-5)


@pytest.mark.parametrize("refresh", [1, 4])
def test_omp_residual_falls_with_k_and_vanishes_at_the_dimension(refresh):
    g = torch.Generator().manual_seed(1)
    atoms, targets = torch.randn(100, 16, generator=g), torch.randn(20, 16, generator=g)
    residuals = [relative_residual(targets, atoms, *batch_omp(targets, atoms, k, refresh=refresh, shortlist=16)).mean() for k in (1, 4, 16)]
    assert residuals[0] > residuals[1] > residuals[2]
    assert residuals[2] < 1e-4


def test_a_repeated_atom_adds_nothing_and_gets_no_coefficient():
    g = torch.Generator().manual_seed(2)
    base = torch.randn(10, 8, generator=g)
    atoms = torch.cat([base, base[:3]])  # atoms 10..12 repeat 0..2
    ids, coef = batch_omp(base[:1] * 2 + base[1:2], atoms * torch.tensor([1.0] * 10 + [-1.0] * 3)[:, None], 8, refresh=1)
    kept = ids[ids >= 0]
    assert torch.isfinite(coef).all()
    assert torch.linalg.matrix_rank(atoms[kept]) == len(kept)  # never a second copy of an atom it already has
    signed = atoms * torch.tensor([1.0] * 10 + [-1.0] * 3)[:, None]
    fit = sum(c * signed[i] for i, c in zip(ids[0].tolist(), coef[0].tolist()) if i >= 0)
    assert torch.allclose(fit, base[0] * 2 + base[1], atol=1e-4)


# --------------------------------------------------------------------------- the methods' known answers


@pytest.mark.parametrize("refresh", [1, 8], ids=["exact", "shortlist"])
def test_omp_new_token_that_is_a_sum_of_two_shared_tokens_in_the_donor_gets_that_sum_in_the_base(source, alignment, german_tokenizer, refresh):
    donor_rows = tiny_donor(german_tokenizer, hidden=64).embeddings.input.clone()
    new, (_, s1), (_, s2) = sum_of_two_shared(alignment, donor_rows)
    result = init_embeddings(source, german_tokenizer, "omp", alignment=alignment, donor=donor_with(german_tokenizer, donor_rows),
                             prior_weight=0.0, refresh=refresh)
    e = result.embeddings
    assert torch.allclose(e.input[new], source.input[s1] + source.input[s2], atol=1e-4)
    if not source.tied:  # a tied donor head: its input rows code the head rows too
        assert torch.allclose(e.output[new], source.output[s1] + source.output[s2], atol=1e-4)
    assert result.report.counts["omp"] == len(alignment.new)


def test_omp_codes_an_untied_head_against_the_donors_own_head(english_tokenizer, german_tokenizer, alignment):
    source = TokenEmbeddings.from_model(tiny_llama(len(english_tokenizer), tie=False), english_tokenizer)
    donor = tiny_donor(german_tokenizer, hidden=64, tie=False)
    head = donor.embeddings.output.clone()
    new, (_, s1), (_, s2) = sum_of_two_shared(alignment, head)  # only the head row is a sum
    e = init_embeddings(source, german_tokenizer, "omp", alignment=alignment, prior_weight=0.0,
                        donor=donor_with(german_tokenizer, donor.embeddings.input, head)).embeddings
    assert torch.allclose(e.output[new], source.output[s1] + source.output[s2], atol=1e-4)
    assert not torch.allclose(e.input[new], source.input[s1] + source.input[s2], atol=1e-2)


@pytest.mark.parametrize("fit", ["ridge", "procrustes"])
def test_linear_map_recovers_an_exact_rotation_and_scale_between_the_spaces(source, alignment, german_tokenizer, fit):
    truth = torch.randn(len(german_tokenizer), source.dim, generator=torch.Generator().manual_seed(3))
    tgt, src = shared_ids(alignment, len(german_tokenizer), source.input.shape[0])
    truth[tgt] = source.input[src]  # the shared tokens sit where the base has them
    rotation, _ = torch.linalg.qr(torch.randn(source.dim, source.dim, generator=torch.Generator().manual_seed(4)))
    donor_rows = 2.5 * truth @ rotation + 0.1  # the donor sees the same geometry, rotated, scaled and shifted
    donor = donor_with(german_tokenizer, donor_rows, None if source.tied else donor_rows)
    e = init_embeddings(source, german_tokenizer, "linear", alignment=alignment, donor=donor, fit=fit, ridge=0.0, prior="none").embeddings
    new = torch.tensor(alignment.new)
    assert torch.allclose(e.input[new], truth[new], atol=1e-3)


def test_prior_weight_one_gives_exactly_the_prior(source, alignment, german_tokenizer):
    donor = tiny_donor(german_tokenizer)
    blended = init_embeddings(source, german_tokenizer, "linear", alignment=alignment, donor=donor, prior="fvt", prior_weight=1.0)
    fvt = init_embeddings(source, german_tokenizer, "fvt", alignment=alignment)
    assert torch.allclose(blended.embeddings.input, fvt.embeddings.input)
    assert blended.report.counts["linear-ridge+fvt"] == len(alignment.new)


# --------------------------------------------------------------------------- donor checks and fallbacks


def test_a_donor_with_fewer_rows_than_token_ids_falls_back_to_the_prior_for_the_rest(source, alignment, german_tokenizer):
    rows = alignment.new[len(alignment.new) // 2]
    donor = donor_with(german_tokenizer, tiny_donor(german_tokenizer).embeddings.input[:rows])
    result = init_embeddings(source, german_tokenizer, "omp", alignment=alignment, donor=donor, prior="fvt", prior_weight=0.0)
    missing = sum(1 for i in alignment.new if i >= rows)
    assert result.report.counts["fallback-prior-no-donor-row"] == missing > 0
    assert result.report.details["new_without_donor_row"] == missing
    fvt = init_embeddings(source, german_tokenizer, "fvt", alignment=alignment).embeddings
    beyond = torch.tensor([i for i in alignment.new if i >= rows])
    assert torch.allclose(result.embeddings.input[beyond], fvt.input[beyond])


def test_a_donor_sharing_no_regular_token_is_refused(source, alignment, german_tokenizer):
    first_regular = min(t for t, kind in alignment.kinds.items() if kind in ("exact", "canonical"))
    donor = donor_with(german_tokenizer, tiny_donor(german_tokenizer).embeddings.input[:first_regular])
    with pytest.raises(RetokError, match="share no regular tokens"):
        init_embeddings(source, german_tokenizer, "omp", alignment=alignment, donor=donor)


def test_a_donor_of_another_hidden_size_gives_rows_of_the_base_size(source, german_tokenizer):
    for hidden in (8, 48):
        e = init_embeddings(source, german_tokenizer, "omp", donor=tiny_donor(german_tokenizer, hidden=hidden)).embeddings
        assert e.input.shape == (len(german_tokenizer), source.dim)


def test_a_donor_method_without_a_donor_and_a_donor_with_another_method_are_refused(source, german_tokenizer):
    with pytest.raises(RetokError, match="reads a donor model"):
        init_embeddings(source, german_tokenizer, "omp")
    with pytest.raises(RetokError, match="does not use a donor.*omp"):
        init_embeddings(source, german_tokenizer, "fvt", donor=tiny_donor(german_tokenizer))


def test_a_donor_whose_tokenizer_is_not_the_new_tokenizer_is_refused(tmp_path, english_tokenizer, german_tokenizer):
    folder = tmp_path / "donor"
    tiny_llama(len(english_tokenizer)).save_pretrained(folder)
    english_tokenizer.save_pretrained(folder)
    with pytest.raises(RetokError, match="does not use the new tokenizer"):
        load_donor(folder, german_tokenizer)
    assert load_donor(folder, english_tokenizer).rows == len(english_tokenizer)


# --------------------------------------------------------------------------- specials by role, pad = eos


@pytest.fixture(scope="module")
def gemma_style():
    return tiny_gemma_style_tokenizer()


@pytest.fixture
def gemma_style_model(gemma_style):
    model = tiny_llama(len(gemma_style))
    vocab = gemma_style.get_vocab()
    model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id = vocab["<bos>"], vocab["<eos>"], vocab["<pad>"]
    return model


def test_a_config_id_without_counterpart_goes_to_the_new_token_of_the_same_role_with_a_note(gemma_style, gemma_style_model, english_tokenizer):
    alignment = VocabAlignment.build(gemma_style, english_tokenizer)  # SmolLM2-like: pad = eos = <|im_end|>
    notes: list[str] = []
    updates = {name: value for cfg, name, value in special_id_updates(gemma_style_model, alignment, notes) if cfg is gemma_style_model.config}
    vocab = english_tokenizer.get_vocab()
    assert updates["pad_token_id"] == vocab["<|im_end|>"]
    assert updates["bos_token_id"] == vocab["<|im_start|>"] and updates["eos_token_id"] == vocab["<|im_end|>"]
    assert len(notes) == 1 and "'<pad>' has no counterpart" in notes[0] and "also its eos_token" in notes[0]


def test_a_config_id_without_counterpart_or_role_is_still_refused(gemma_style, gemma_style_model, english_tokenizer):
    gemma_style_model.config.pad_token_id = gemma_style.get_vocab()["<0x41>"]  # a byte token: no role, and no special match
    gemma_style_model.config.sep_token_id = gemma_style.get_vocab()["<pad>"]
    with pytest.raises(RetokError, match="no counterpart for '<pad>', the model's sep_token_id"):
        special_id_updates(gemma_style_model, VocabAlignment.build(gemma_style, english_tokenizer))


def test_the_report_says_which_special_got_which_row_and_the_separator_carries_the_source_separator_row(tmp_path, gemma_style, gemma_style_model, english_tokenizer):
    folder = tmp_path / "gemma-style"
    gemma_style_model.save_pretrained(folder)
    gemma_style.save_pretrained(folder)
    result = transplant(str(folder), english_tokenizer, "fvt")
    assert result.report.specials["<|im_start|>"] == "<bos> (bos_token role)"
    assert result.report.specials["<|im_end|>"] == "<eos> (eos_token role)"
    assert result.report.specials["<|endoftext|>"] == "<unk> (unk_token role)"
    assert result.separator == "<|im_start|>"  # Gemma's protocol separator is <bos>; its row went to the bos role
    assert result.retok_config()["separator"] == "<|im_start|>"
    assert any("pad_token_id" in note for note in result.notes)
    assert result.model.config.pad_token_id == english_tokenizer.get_vocab()["<|im_end|>"]


def test_transplant_with_a_donor_folder_saves_a_model_that_loads_and_records_the_donor(tmp_path, model_dir, german_tokenizer):
    from transformers import AutoModelForCausalLM

    donor = tmp_path / "donor"
    tiny_llama(len(german_tokenizer), hidden=24, seed=7).save_pretrained(donor)
    german_tokenizer.save_pretrained(donor)
    result = transplant(model_dir, german_tokenizer, "omp", donor=str(donor))
    out = result.save_pretrained(tmp_path / "out")
    assert result.report.details["donor"] == str(donor) and result.report.details["donor_hidden_size"] == 24
    loaded = AutoModelForCausalLM.from_pretrained(out)
    assert loaded.get_input_embeddings().weight.shape[0] == len(german_tokenizer)
