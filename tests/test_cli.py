import json

import pytest

from retok.cli import main


def test_methods_lists_every_initializer_with_its_options(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in ("mean", "gaussian", "fvt", "--output-pooling"):
        assert name in out


def test_train_transplant_eval_round_trip(tmp_path, model_dir, corpus, capsys):
    tok = tmp_path / "tok"
    assert main(["train-tokenizer", "--corpus", str(corpus), "--vocab-size", "300", "--like", str(model_dir), "--out", str(tok)]) == 0
    out = tmp_path / "out"
    assert main(["transplant", "--model", str(model_dir), "--tokenizer", str(tok), "--method", "fvt", "--output-pooling", "first", "--out", str(out)]) == 0
    config = json.loads((out / "retok_config.json").read_text())
    assert config["method"] == "fvt" and config["options"]["output_pooling"] == "first"
    capsys.readouterr()
    report = tmp_path / "eval.json"
    assert main(["eval", "--model", str(out), "--text", str(corpus), "--max-bytes", "2000", "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert result["n_bytes"] <= 2000 and result["bpb"] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["transplant", "--model", "M", "--tokenizer", "T", "--out", "O", "--method", "fvtt"], "Did you mean 'fvt'"),
        (["eval", "--model", "M", "--text", "/no/such/file.txt"], "does not exist"),
        (["train-tokenizer", "--corpus", "/no/such.txt", "--vocab-size", "300", "--like", "L", "--out", "O"], "does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("retok: error:") and message in err and len(err.strip().splitlines()) == 1


def test_non_utf8_corpus_is_refused(tmp_path, model_dir, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Größe\n".encode("latin-1"))
    assert main(["train-tokenizer", "--corpus", str(bad), "--vocab-size", "300", "--like", str(model_dir), "--out", str(tmp_path / "t")]) == 2
    assert "not valid UTF-8" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_existing_output_needs_overwrite(tmp_path, model_dir, capsys):
    out = tmp_path / "out"
    out.mkdir()
    argv = ["transplant", "--model", str(model_dir), "--tokenizer", str(model_dir), "--out", str(out)]
    assert main(argv) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    assert (out / "retok_config.json").exists()


def test_an_option_of_another_method_is_a_one_line_error(capsys):
    assert main(["transplant", "--model", "M", "--tokenizer", "T", "--out", "O", "--method", "mean", "--output-pooling", "first"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retok: error: unknown option --output-pooling for `retok transplant` (an option of fvt, not of --method mean)")
    assert len(err.splitlines()) == 1


def test_finetune_verb_writes_a_merged_folder(tmp_path, model_dir, corpus, capsys):
    out = tmp_path / "ft"
    argv = ["finetune", "--model", str(model_dir), "--train", str(corpus), "--out", str(out),
            "--train-bytes", "None", "--seq-len", "16", "--batch-size", "4", "--eval-every", "0"]
    assert main(argv) == 0
    assert (out / "model.safetensors").exists() and (out / "finetune_history.json").exists()
    assert "not a retok transplant" in capsys.readouterr().out
    assert main([*argv[:-6], "--lora-r", "abc"]) == 2
    assert "FinetuneConfig.lora_r must be an integer" in capsys.readouterr().err


def test_embedding_space_method_options_reach_the_config(tmp_path, model_dir, corpus, tiny_vectors, german_tokenizer):
    tok = tmp_path / "tok"
    german_tokenizer.save_pretrained(tok)
    out = tmp_path / "out"
    wechsel = tiny_vectors.words()
    argv = ["transplant", "--model", str(model_dir), "--tokenizer", str(tok), "--method", "wechsel", "--out", str(out),
            "--source-vectors", wechsel["source_vectors"], "--target-vectors", wechsel["target_vectors"],
            "--dictionary", wechsel["dictionary"], "--neighbors", "3", "--prior-weight", "0.5"]
    assert main(argv) == 0
    config = json.loads((out / "retok_config.json").read_text())
    assert config["options"]["neighbors"] == 3 and config["options"]["prior_weight"] == 0.5
    assert config["report"]["details"]["train_pairs"] > 0


def test_missing_word_vectors_exit_2_with_the_fix(tmp_path, model_dir, german_tokenizer, capsys):
    tok = tmp_path / "tok"
    german_tokenizer.save_pretrained(tok)
    argv = ["transplant", "--model", str(model_dir), "--tokenizer", str(tok), "--method", "wechsel", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "pass source_vectors=FILE" in capsys.readouterr().err


def test_split_writes_the_protocols_training_and_held_out_files(tmp_path, capsys):
    from retok.data import held_out_text, train_paragraphs
    from retok.testing import GERMAN

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"{line} {i}" for i in range(40) for line in GERMAN) + "\n", encoding="utf-8")
    argv = ["split", "--text", str(corpus), "--out", str(tmp_path / "data"), "--name", "de"]
    assert main(argv) == 0
    train, heldout = tmp_path / "data" / "de.txt", tmp_path / "data" / "de-heldout.txt"
    assert train.read_text(encoding="utf-8").splitlines() == train_paragraphs(corpus)
    assert heldout.read_text(encoding="utf-8") == held_out_text(corpus)  # byte for byte what every benchmark scores
    out = capsys.readouterr().out
    assert str(train) in out and str(heldout) in out
    assert main(argv) == 2 and "exists; pass --overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0


def test_assets_path_prints_only_the_folder_and_fetch_knows_every_asset(tmp_path, monkeypatch, capsys):
    from retok.assets import store

    fetched = []
    monkeypatch.setitem(store.FETCHABLE, "gemma3-270m", store.Fetchable("Gemma", lambda *, progress: fetched.append(1) or tmp_path))
    monkeypatch.setenv("RETOK_CACHE", str(tmp_path / "cache"))
    assert main(["assets", "--path", "gemma3-270m"]) == 0
    assert capsys.readouterr().out == f"{tmp_path}\n" and fetched == [1]
    assert {"smollm2", "gemma3-270m", "lohelp", "manpages", "minilm"} <= set(store.FETCHABLE)
    assert main(["assets", "--path", "gemma"]) == 2 and "did you mean gemma3-270m" in capsys.readouterr().err
