"""Session fixtures built in-process from retok.testing (no network)."""

from __future__ import annotations

import os

# No test may touch the network: set before transformers / huggingface_hub are imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from retok.testing import GERMAN, tiny_llama, tiny_tokenizer, tiny_vectors as build_tiny_vectors  # noqa: E402


@pytest.fixture(scope="session")
def english_tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="session")
def german_tokenizer():
    return tiny_tokenizer(GERMAN)


@pytest.fixture(params=[True, False], ids=["tied", "untied"])
def tie(request) -> bool:
    return request.param


@pytest.fixture
def english_model(english_tokenizer, tie):
    return tiny_llama(len(english_tokenizer), tie=tie)


@pytest.fixture(scope="session")
def tiny_vectors(tmp_path_factory, german_tokenizer):
    """fastText vectors and a dictionary for the tiny fixtures, trained once per session."""
    return build_tiny_vectors(tmp_path_factory.mktemp("vectors"), german_tokenizer)


@pytest.fixture
def model_dir(tmp_path, english_tokenizer):
    """A saved tiny model folder with its (English) tokenizer."""
    path = tmp_path / "model"
    tiny_llama(len(english_tokenizer)).save_pretrained(path)
    english_tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def corpus(tmp_path):
    """A German text file, one paragraph per line."""
    path = tmp_path / "de.txt"
    path.write_text("\n".join(GERMAN * 30) + "\n", encoding="utf-8")
    return path


#: a hypernetwork trained for a handful of steps: enough to exercise every code path in a second
TINY_HYPERNET = dict(stage1_steps=3, stage1_batch=32, steps=2, batch_size=2, seq_len=16, candidates=64, sampled_vocab=400,
                     hidden=16, heads=2, aux_batch=16, warmup_steps=1, checkpoint_every=0)


@pytest.fixture(scope="session")
def hypernet_for(tmp_path_factory):
    """``hypernet_for(model, tokenizer, **settings)`` -> the folder of a tiny hypernetwork trained for that model (once per model)."""
    import hypernet
    from hypernet.io import fingerprint
    from retok.transfer.embeddings import TokenEmbeddings
    from retok.loading import load_model, load_tokenizer
    from retok.testing import ENGLISH

    made: dict[str, str] = {}

    def make(model, tokenizer=None, **changes) -> str:
        folder = None
        if not hasattr(model, "config"):  # a saved model: train on it where it is
            folder, tokenizer, model = model, load_tokenizer(tokenizer or model), load_model(model)
        source = TokenEmbeddings.from_model(model, tokenizer)
        key = fingerprint(source.input, source.output) + repr(sorted(changes.items()))
        if key not in made:
            root = tmp_path_factory.mktemp("hypernet")
            if folder is None:
                folder = root / "model"
                model.save_pretrained(folder)
                tokenizer.save_pretrained(folder)
            (root / "train.txt").write_text("\n".join((GERMAN + ENGLISH) * 20) + "\n", encoding="utf-8")
            hypernet.train(folder, root / "train.txt", root / "hn", hypernet.TrainConfig(**{**TINY_HYPERNET, **changes}),
                           progress=False, log=lambda line: None)
            made[key] = str(root / "hn")
        return made[key]

    return make
