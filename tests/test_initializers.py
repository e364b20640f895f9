"""Invariants every registered initializer must keep; a new method joins this matrix by registering.

Each case is ``(method, options)``: ``options(vectors, hypernet)`` turns the tiny fastText vectors
(the session fixture ``tiny_vectors``) and ``hypernet()``, the folder of a tiny hypernetwork trained
for the case's source model (fixture ``hypernet_for``), into what the method needs to run. A method may appear more than once,
with other options (tokenadapt with its fastText space). A donor method (``omp``, ``linear``) gets a tiny
donor of another hidden size that uses the target tokenizer (:func:`retok.testing.tiny_donor`).
"""

import pytest
import torch

from retok.transfer.embeddings import TokenEmbeddings
from retok.transfer.initializers import INITIALIZERS, init_embeddings
from retok.testing import tiny_donor
from retok.vocab.canonical import VocabAlignment

NEEDS = {  # what a method needs beyond the two tokenizers
    "wechsel": lambda vectors, hypernet: vectors.words(),
    "focus": lambda vectors, hypernet: {"fasttext_model": str(vectors.target_tokens)},
    "hypernet": lambda vectors, hypernet: {"hypernet": hypernet()},
}
CASES = [pytest.param(name, NEEDS.get(name, lambda vectors, hypernet: {}), id=name) for name in INITIALIZERS.names()]
CASES.append(pytest.param("tokenadapt", lambda vectors, hypernet: {**vectors.words(), "aux": "fasttext"}, id="tokenadapt-fasttext"))
CASES.append(pytest.param("omp", lambda vectors, hypernet: {"refresh": 1, "prior": "fvt"}, id="omp-exact"))
CASES.append(pytest.param("linear", lambda vectors, hypernet: {"fit": "procrustes", "prior": "none"}, id="linear-procrustes"))


@pytest.fixture
def source(english_model, english_tokenizer):
    return TokenEmbeddings.from_model(english_model, english_tokenizer)


pytestmark = pytest.mark.parametrize("method, needs", CASES)


@pytest.fixture
def run(method, needs, tiny_vectors, hypernet_for, english_model, english_tokenizer):
    """``run(source, tokenizer, **extra)``: ``init_embeddings`` for this case of the matrix."""
    options = needs(tiny_vectors, lambda: hypernet_for(english_model, english_tokenizer))
    donor = INITIALIZERS.get(method).needs_donor

    def call(source, tokenizer, **extra):
        return init_embeddings(source, tokenizer, method, **options, **({"donor": tiny_donor(tokenizer)} if donor else {}), **extra)

    return call


def test_shape_is_target_vocab_by_hidden_and_values_finite(run, source, german_tokenizer):
    e = run(source, german_tokenizer).embeddings
    assert e.input.shape == (len(german_tokenizer), source.dim)
    assert torch.isfinite(e.input).all()
    assert e.tied == source.tied
    if not source.tied:
        assert e.output.shape == e.input.shape and torch.isfinite(e.output).all()


def test_matching_and_special_rows_are_copied(run, source, german_tokenizer, english_tokenizer):
    alignment = VocabAlignment.build(english_tokenizer, german_tokenizer)
    e = run(source, german_tokenizer, alignment=alignment).embeddings
    tgt = torch.tensor(list(alignment.matches))
    src = torch.tensor(list(alignment.matches.values()))
    assert torch.equal(e.input[tgt], source.input[src])
    if not source.tied:
        assert torch.equal(e.output[tgt], source.output[src])


def test_same_seed_gives_the_same_matrix(run, source, german_tokenizer):
    a = run(source, german_tokenizer, seed=3).embeddings.input
    b = run(source, german_tokenizer, seed=3).embeddings.input
    assert torch.equal(a, b)


def test_same_tokenizer_reproduces_the_source_matrix(run, source, english_tokenizer):
    e = run(source, english_tokenizer).embeddings
    assert torch.equal(e.input, source.input)


def test_report_accounts_for_every_row(run, method, source, german_tokenizer):
    report = run(source, german_tokenizer).report
    assert sum(report.counts.values()) == len(german_tokenizer)
    assert report.method == method


def test_checkpoint_path_and_in_memory_path_write_the_same_rows(method, needs, tiny_vectors, hypernet_for, english_model, english_tokenizer,
                                                                 german_tokenizer, tmp_path):
    """Every method runs on the checkpoint path (a bfloat16 folder; float32 for the hypernet, fitted to that matrix)."""
    import copy

    from safetensors.torch import load_file

    from retok import transplant

    options = needs(tiny_vectors, lambda: hypernet_for(english_model, english_tokenizer))
    if INITIALIZERS.get(method).needs_donor:
        options["donor"] = tiny_donor(german_tokenizer)
    model = copy.deepcopy(english_model)
    if method != "hypernet":
        model = model.to(torch.bfloat16)
    model.save_pretrained(tmp_path / "model")
    english_tokenizer.save_pretrained(tmp_path / "model")
    lazy = transplant(tmp_path / "model", german_tokenizer, method, **options)
    assert lazy.in_memory is None
    lazy.save_pretrained(tmp_path / "lazy")
    transplant(tmp_path / "model", german_tokenizer, method, lazy=False, **options).save_pretrained(tmp_path / "memory")
    a, b = load_file(tmp_path / "lazy" / "model.safetensors"), load_file(tmp_path / "memory" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
