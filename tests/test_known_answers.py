"""Hand-sized cases, one section per method: the expected rows follow from the method's definition.

Toy vocabularies: the source has a, b, Ġ, Ġa (rows E_IN); the target adds ab and Ġab, the two new
tokens. Word vectors are tiny word2vec text files, so which token has a vector is known exactly.
"""

import json

import pytest
import torch

from retok.transfer.embeddings import TokenEmbeddings
from retok.errors import RetokError
from retok.transfer.initializers import init_embeddings
from retok.transfer.initializers.combine import sparsemax
from retok.testing import GERMAN, byte_level, rows_of as rows, tiny_tokenizer
from retok.vocab.canonical import VocabAlignment

E_IN = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [4.0, 0.5]])  # <eot>, a, b, Ġ, Ġa
E_OUT = 10 * E_IN
FVT_GAB = (E_IN[4] + E_IN[2]) / 2  # Ġab -> Ġa + b
FVT_AB = (E_IN[1] + E_IN[2]) / 2  # ab -> a + b


@pytest.fixture
def tokenizers():
    source = byte_level(["a", "b", "Ġ", "Ġa"], [("Ġ", "a")])
    target = byte_level(["a", "b", "Ġ", "Ġa", "ab", "Ġab"], [("Ġ", "a"), ("a", "b"), ("Ġa", "b")])
    return source, target


@pytest.fixture
def toy(tokenizers):
    """The toy tokenizers with rows that make the FVT means round numbers."""
    e_in = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [4.0, 0.0]])
    return (*tokenizers, e_in, 10 * e_in)


def vec_file(path, vectors: dict[str, list[float]]):
    dim = len(next(iter(vectors.values())))
    path.write_text(f"{len(vectors)} {dim}\n" + "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()))
    return str(path)


def word_options(tmp_path, source_words, target_words):
    return {
        "source_vectors": vec_file(tmp_path / "src.vec", source_words),
        "target_vectors": vec_file(tmp_path / "tgt.vec", target_words),
        "align": "none",
    }


# ----------------------------------------------------------------------------- mean


def test_mean_new_token_is_the_mean_of_regular_source_rows(toy):
    source_tok, target_tok, e_in, _ = toy
    got, _ = rows(init_embeddings(TokenEmbeddings(source_tok, e_in), target_tok, "mean"), target_tok, ["ab"])
    # regular rows are ids 1..4 (id 0 is the special token): mean = [7/4, 3/4]
    assert torch.allclose(got, torch.tensor([[1.75, 0.75]]))


# ----------------------------------------------------------------------------- gaussian


def test_gaussian_new_rows_follow_source_statistics():
    source_tok, target_tok = tiny_tokenizer(vocab_size=300), tiny_tokenizer(GERMAN * 50, vocab_size=2000)
    generator = torch.Generator().manual_seed(0)
    e_in = torch.randn(len(source_tok), 4, generator=generator) * torch.tensor([1.0, 2.0, 3.0, 4.0]) + 5.0
    result = init_embeddings(TokenEmbeddings(source_tok, e_in), target_tok, "gaussian", seed=1)
    new_rows = result.embeddings.input[result.report.new_token_ids]
    assert len(new_rows) > 200
    assert torch.allclose(new_rows.mean(0), torch.full((4,), 5.0), atol=0.6)
    assert torch.allclose(new_rows.std(0), torch.tensor([1.0, 2.0, 3.0, 4.0]), rtol=0.2)


# ----------------------------------------------------------------------------- fvt


def test_fvt_new_token_is_the_mean_of_its_old_pieces(toy):
    source_tok, target_tok, e_in, _ = toy
    result = init_embeddings(TokenEmbeddings(source_tok, e_in), target_tok, "fvt")
    got, _ = rows(result, target_tok, ["ab", "Ġab", "Ġa"])
    # ab -> a + b = mean([1,0],[0,1]); Ġab -> Ġa + b = mean([4,0],[0,1]); Ġa copied
    assert torch.allclose(got, torch.tensor([[0.5, 0.5], [2.0, 0.5], [4.0, 0.0]]))


def test_fvt_untied_head_pools_output_rows_as_configured(toy):
    source_tok, target_tok, e_in, e_out = toy
    source = TokenEmbeddings(source_tok, e_in, e_out)
    _, mean_out = rows(init_embeddings(source, target_tok, "fvt"), target_tok, ["Ġab"])
    _, first_out = rows(init_embeddings(source, target_tok, "fvt", output_pooling="first"), target_tok, ["Ġab"])
    assert torch.allclose(mean_out, torch.tensor([[20.0, 5.0]]))
    assert torch.allclose(first_out, torch.tensor([[40.0, 0.0]]))


# ----------------------------------------------------------------------------- compose


def test_compose_recovers_a_linear_composition_rule():
    source_tok, target_tok = tiny_tokenizer(vocab_size=400), tiny_tokenizer(GERMAN, vocab_size=400)
    model = json.loads(source_tok.backend_tokenizer.to_str())["model"]
    vocab = model["vocab"]
    table = torch.randn(len(source_tok), 6, generator=torch.Generator().manual_seed(0))
    bias = torch.arange(6.0)
    for a, b in (m if isinstance(m, list) else m.split(" ") for m in model["merges"]):  # merge order: pieces first
        table[vocab[a + b]] = 0.3 * table[vocab[a]] + 0.7 * table[vocab[b]] + bias
    alignment = VocabAlignment.build(source_tok, target_tok)
    result = init_embeddings(TokenEmbeddings(source_tok, table), target_tok, "compose", fvt_weight=0.0, ridge=1e-6, alignment=alignment)
    checked = 0
    for t in alignment.new:
        pieces = alignment.source.pieces(alignment.target.keys[t])
        if len(pieces) == 2:
            expected = 0.3 * table[pieces[0]] + 0.7 * table[pieces[1]] + bias
            assert torch.allclose(result.embeddings.input[t], expected, atol=1e-3)
            checked += 1
    assert checked >= 5


def test_compose_with_full_fvt_weight_is_fvt(tokenizers):
    source_tok, target_tok = tokenizers
    source = TokenEmbeddings(source_tok, E_IN, E_OUT)
    a = init_embeddings(source, target_tok, "compose", fvt_weight=1.0).embeddings
    b = init_embeddings(source, target_tok, "fvt").embeddings
    assert torch.allclose(a.input, b.input) and torch.allclose(a.output, b.output)


# ----------------------------------------------------------------------------- wechsel


def test_wechsel_new_token_takes_its_nearest_source_token(tmp_path, tokenizers):
    source_tok, target_tok = tokenizers
    # word-start "a" (Ġa) has a source vector; word-start "ab" (Ġab) a target vector next to it
    options = word_options(tmp_path, {"a": [1.0, 0.0], "b": [0.0, 1.0]}, {"ab": [1.0, 0.1]})
    result = init_embeddings(TokenEmbeddings(source_tok, E_IN, E_OUT), target_tok, "wechsel", prior="fvt", neighbors=1, prior_weight=0.0, **options)
    got_in, got_out = rows(result, target_tok, ["Ġab", "ab"])
    assert torch.allclose(got_in[0], E_IN[4]) and torch.allclose(got_out[0], E_OUT[4])
    # the continuation token "ab" has no vector (only word-start tokens match words): FVT fallback
    assert torch.allclose(got_in[1], FVT_AB)
    assert result.report.counts["wechsel"] == 1 and result.report.counts["fallback-prior"] == 1


def test_wechsel_blends_with_fvt_and_drops_weak_neighbours(tmp_path, tokenizers):
    source_tok, target_tok = tokenizers
    options = word_options(tmp_path, {"a": [1.0, 0.0]}, {"ab": [1.0, 0.1]})
    source = TokenEmbeddings(source_tok, E_IN)
    half = init_embeddings(source, target_tok, "wechsel", prior="fvt", neighbors=1, prior_weight=0.5, **options)
    assert torch.allclose(rows(half, target_tok, ["Ġab"])[0][0], 0.5 * E_IN[4] + 0.5 * FVT_GAB)
    weak = init_embeddings(source, target_tok, "wechsel", prior="fvt", neighbors=1, prior_weight=0.0, min_similarity=0.999, **options)
    assert torch.allclose(rows(weak, target_tok, ["Ġab"])[0][0], FVT_GAB)
    assert weak.report.counts["prior-weak-neighbours"] == 1


def test_wechsel_softmax_weights_follow_the_temperature(tmp_path, tokenizers):
    source_tok, target_tok = tokenizers
    # Ġab is equally similar to Ġa and (continuation) b: both get weight 1/2 at any temperature
    options = word_options(tmp_path, {"a": [1.0, 0.0]}, {"ab": [1.0, 0.0]})
    result = init_embeddings(TokenEmbeddings(source_tok, E_IN), target_tok, "wechsel", prior="fvt", neighbors=2, prior_weight=0.0, min_similarity=-1.0, **options)
    # only one source token has a vector, so k is capped at 1
    assert torch.allclose(rows(result, target_tok, ["Ġab"])[0][0], E_IN[4])


def test_wechsel_random_fallback_is_seeded_and_reported(tmp_path, tokenizers):
    source_tok, target_tok = tokenizers
    options = word_options(tmp_path, {"a": [1.0, 0.0]}, {"ab": [1.0, 0.1]})
    run = lambda seed: init_embeddings(TokenEmbeddings(source_tok, E_IN), target_tok, "wechsel", prior="fvt", fallback="random", seed=seed, **options)
    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a.embeddings.input, b.embeddings.input) and not torch.equal(a.embeddings.input, c.embeddings.input)
    assert a.report.counts["fallback-random"] == 1


def test_wechsel_needs_vectors_and_a_dictionary(tmp_path, tokenizers):
    source_tok, target_tok = tokenizers
    source = TokenEmbeddings(source_tok, E_IN)
    with pytest.raises(RetokError, match="no source-language word vectors: pass source_vectors"):
        init_embeddings(source, target_tok, "wechsel", prior="fvt")
    options = word_options(tmp_path, {"a": [1.0, 0.0]}, {"ab": [1.0, 0.1]})
    with pytest.raises(RetokError, match="needs a bilingual dictionary"):
        init_embeddings(source, target_tok, "wechsel", prior="fvt", **{**options, "align": "dictionary"})
    options["target_vectors"] = vec_file(tmp_path / "three.vec", {"ab": [1.0, 0.1, 0.0]})
    with pytest.raises(RetokError, match="dimension 2 but the target vectors 3"):
        init_embeddings(source, target_tok, "wechsel", prior="fvt", **options)


def test_wechsel_dictionary_without_shared_pairs_is_a_clear_error(tmp_path, tokenizers):
    source_tok, target_tok = tokenizers
    options = word_options(tmp_path, {"a": [1.0, 0.0]}, {"ab": [1.0, 0.1]})
    (tmp_path / "dict.tsv").write_text("house\tHaus\n")
    with pytest.raises(RetokError, match="none of the 1 dictionary pairs has both words"):
        init_embeddings(TokenEmbeddings(source_tok, E_IN), target_tok, "wechsel", prior="fvt", **{**options, "align": "dictionary", "dictionary": str(tmp_path / "dict.tsv")})



def test_wechsel_same_seed_retrains_the_same_vectors_and_matrix(tmp_path, monkeypatch):
    from retok.testing import DICTIONARY, ENGLISH

    (tmp_path / "en.txt").write_text("\n".join(ENGLISH * 20), encoding="utf-8")
    (tmp_path / "de.txt").write_text("\n".join(GERMAN * 20), encoding="utf-8")
    (tmp_path / "dict.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in DICTIONARY), encoding="utf-8")
    source_tok, target_tok = tiny_tokenizer(), tiny_tokenizer(GERMAN)
    source = TokenEmbeddings(source_tok, torch.randn(len(source_tok), 4, generator=torch.Generator().manual_seed(0)))
    words = {"source_text": str(tmp_path / "en.txt"), "target_text": str(tmp_path / "de.txt"), "dictionary": str(tmp_path / "dict.tsv")}
    small = {"vector_dim": 8, "vector_epochs": 3, "vector_min_count": 1, "prior_weight": 0.0, "min_similarity": -1.0}

    def run(seed: int, cache: str) -> torch.Tensor:
        monkeypatch.setenv("RETOK_CACHE", str(tmp_path / cache))  # a fresh cache: fastText is trained again
        return init_embeddings(source, target_tok, "wechsel", seed=seed, **words, **small).embeddings.input

    first, again, other = run(3, "a"), run(3, "b"), run(4, "c")
    assert torch.equal(first, again)
    assert not torch.equal(first, other)

# ----------------------------------------------------------------------------- focus


def test_focus_new_token_is_the_sparsemax_mix_of_overlapping_tokens(tmp_path, tokenizers):
    source_tok, target_tok = tokenizers
    # token-level vectors keyed by the target's vocabulary strings; anchors Ġa and a, new Ġab
    model = vec_file(tmp_path / "tokens.vec", {"Ġa": [1.0, 0.0], "a": [0.0, 1.0], "Ġab": [1.0, 0.2]})
    result = init_embeddings(TokenEmbeddings(source_tok, E_IN, E_OUT), target_tok, "focus", prior="fvt", fasttext_model=model, prior_weight=0.0)
    cos = torch.nn.functional.normalize(torch.tensor([[1.0, 0.2]]), dim=1) @ torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T
    w = sparsemax(cos)[0]  # by hand: [0.892, 0.108]
    assert torch.allclose(w, torch.tensor([0.892, 0.108]), atol=1e-3)
    got_in, got_out = rows(result, target_tok, ["Ġab", "ab"])
    assert torch.allclose(got_in[0], w[0] * E_IN[4] + w[1] * E_IN[1], atol=1e-6)
    assert torch.allclose(got_out[0], w[0] * E_OUT[4] + w[1] * E_OUT[1], atol=1e-5)
    assert torch.allclose(got_in[1], FVT_AB)  # "ab" has no vector: FVT fallback
    assert result.report.counts == {**result.report.counts, "focus": 1, "fallback-prior": 1}


def test_focus_needs_text_or_a_model(tokenizers):
    source_tok, target_tok = tokenizers
    with pytest.raises(RetokError, match="focus needs target-language text"):
        init_embeddings(TokenEmbeddings(source_tok, E_IN), target_tok, "focus", prior="fvt")


# ----------------------------------------------------------------------------- tokenadapt


def test_tokenadapt_local_estimate_is_fvt_when_the_temperature_is_huge(tokenizers):
    source_tok, target_tok = tokenizers
    result = init_embeddings(TokenEmbeddings(source_tok, E_IN), target_tok, "tokenadapt", prior_weight=0.0, weight=0.0, temperature=1e9)
    got, _ = rows(result, target_tok, ["Ġab", "ab"])
    assert torch.allclose(got, torch.stack([FVT_GAB, FVT_AB]), atol=1e-6)


def test_tokenadapt_local_weights_favour_the_longer_piece(tokenizers):
    source_tok, target_tok = tokenizers
    result = init_embeddings(TokenEmbeddings(source_tok, E_IN), target_tok, "tokenadapt", prior_weight=0.0, weight=0.0, temperature=0.3)
    # Ġab: pieces Ġa (2 of 3 bytes) and b (1 of 3): more weight on Ġa than the plain mean gives
    got = rows(result, target_tok, ["Ġab"])[0][0]
    share = (got - E_IN[2]) @ (E_IN[4] - E_IN[2]) / (E_IN[4] - E_IN[2]).pow(2).sum()
    assert share > 0.5


def test_tokenadapt_global_estimate_is_the_nearest_old_token(tokenizers):
    source_tok, target_tok = tokenizers
    # aux=model: Ġab sits at its FVT point (2, .75); its nearest old row by cosine is Ġa (4, .5)
    result = init_embeddings(TokenEmbeddings(source_tok, E_IN), target_tok, "tokenadapt", prior_weight=0.0, weight=1.0, top_k=1)
    assert torch.allclose(rows(result, target_tok, ["Ġab"])[0][0], E_IN[4])
    assert result.report.counts["tokenadapt-hybrid"] == 2


def test_tokenadapt_unknown_aux_space_suggests_one(tokenizers):
    source_tok, target_tok = tokenizers
    with pytest.raises(RetokError, match="Did you mean 'minilm'"):
        init_embeddings(TokenEmbeddings(source_tok, E_IN), target_tok, "tokenadapt", prior_weight=0.0, aux="minlm")
