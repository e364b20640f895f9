"""Bad input on the command line: one line ``retok: error: ...``, exit 2, checked before the work, nothing left behind.

One test per class of mistake. The mechanisms are shared (retok.argparsing, retok.options ranges,
retok.atomic output checks, retok.transfer.embeddings.check_tokenizer_fits), so commands added later get
the same behaviour.
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from retok.cli import main
from retok.errors import RetokError
from retok.testing import GERMAN, tiny_tokenizer


def fails(argv, capsys, *needles):
    """Run the CLI; it must exit 2 with exactly one stderr line that holds every needle."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("retok: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def german_dir(tmp_path, german_tokenizer):
    path = tmp_path / "tok-de"
    german_tokenizer.save_pretrained(path)
    return path


def transplant_argv(model_dir, german_dir, out, *extra):
    return ["transplant", "--model", model_dir, "--tokenizer", german_dir, "--out", out, *extra]


# ----------------------------------------------------------------------------- writes are checked before the work


@pytest.mark.parametrize("out", ["/proc/retok-out", "/proc/self/retok-out"])
def test_out_that_cannot_be_written_is_refused_before_loading(model_dir, german_dir, out, capsys):
    fails(transplant_argv(model_dir, german_dir, out), capsys, "cannot write --out", "not writable")


def test_out_under_a_regular_file_is_refused(tmp_path, model_dir, german_dir, capsys):
    (tmp_path / "afile").write_text("x")
    fails(transplant_argv(model_dir, german_dir, tmp_path / "afile" / "out"), capsys, "which is a file, not a folder")


def test_out_that_is_an_existing_file_says_so_with_or_without_overwrite(tmp_path, model_dir, german_dir, capsys):
    (tmp_path / "out").write_text("x")
    for extra in ([], ["--overwrite"]):
        fails(transplant_argv(model_dir, german_dir, tmp_path / "out", *extra), capsys, "is an existing file, not a folder")


def test_out_name_that_is_not_utf8_is_refused(tmp_path, model_dir, german_dir, capsys):
    fails(transplant_argv(model_dir, german_dir, str(tmp_path) + "/o\udcff"), capsys, "not a valid UTF-8 name")


@pytest.mark.parametrize("target", ["folder", "/proc/retok.json"])
def test_eval_json_onto_a_folder_or_an_unwritable_place_fails_before_scoring(tmp_path, model_dir, corpus, target, capsys, monkeypatch):
    import retok.eval

    monkeypatch.setattr(retok.eval, "bits_per_byte", lambda *a, **k: pytest.fail("scored before checking --json"))
    json_path = tmp_path if target == "folder" else Path(target)
    fails(["eval", "--model", model_dir, "--text", corpus, "--json", json_path], capsys, "--json")


def test_cache_that_is_a_file_is_named_by_assets_fetch(tmp_path, monkeypatch, capsys):
    (tmp_path / "cachefile").write_text("x")
    monkeypatch.setenv("RETOK_CACHE", str(tmp_path / "cachefile"))
    fails(["assets", "--fetch"], capsys, "RETOK_CACHE", "is a file, not a folder")
    assert main(["assets"]) == 0
    assert "problem: the cache" in capsys.readouterr().out


def test_saved_folders_get_the_usual_permissions(tmp_path, model_dir, german_dir):
    assert main([str(a) for a in transplant_argv(model_dir, german_dir, tmp_path / "out")]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~umask


# ----------------------------------------------------------------------------- values out of range


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [("--batch-size", "0", "batch_size (--batch-size) must be >= 1"), ("--lora-r", "0", "lora_r (--lora-r) must be >= 1"),
     ("--epochs", "0", "epochs (--epochs) must be >= 1"), ("--lr", "1e9", "lr (--lr) must be > 0.0 and <= 1.0")],
)
def test_finetune_values_out_of_range_are_refused_before_anything_is_written(tmp_path, model_dir, corpus, flag, value, needle, capsys):
    out = tmp_path / "ft"
    fails(["finetune", "--model", model_dir, "--train", corpus, "--out", out, flag, value], capsys, needle)
    assert not out.exists() and not (tmp_path / "ft.partial").exists()


def test_method_option_out_of_range_is_refused(tmp_path, model_dir, german_dir, capsys):
    fails(transplant_argv(model_dir, german_dir, tmp_path / "o", "--method", "tokenadapt", "--prior-weight", "7"), capsys,
          "prior_weight (--prior-weight) must be in [0.0, 1.0]; got 7.0")


def test_python_api_shares_the_ranges():
    from retok.training.finetune import FinetuneConfig
    from retok.transfer.initializers import make_config

    with pytest.raises(RetokError, match=r"FinetuneConfig.batch_size \(--batch-size\) must be >= 1; got 0"):
        FinetuneConfig(batch_size=0)
    with pytest.raises(RetokError, match=r"must be in \[0.0, 1.0\]"):
        make_config("wechsel", prior_weight=1.5)


@pytest.mark.parametrize("value", ["-5", "x"])
def test_eval_max_bytes_must_be_a_count(model_dir, corpus, value, capsys):
    fails(["eval", "--model", model_dir, "--text", corpus, "--max-bytes", value], capsys, "argument --max-bytes: must be")


# ----------------------------------------------------------------------------- a tokenizer that does not fit the model


@pytest.fixture
def big_tokenizer_dir(tmp_path):
    path = tmp_path / "big"
    tiny_tokenizer(GERMAN * 20, vocab_size=700).save_pretrained(path)
    return path


def test_eval_with_a_tokenizer_larger_than_the_matrix_fails_before_scoring(model_dir, corpus, big_tokenizer_dir, capsys):
    fails(["eval", "--model", model_dir, "--tokenizer", big_tokenizer_dir, "--text", corpus], capsys,
          "the tokenizer (--tokenizer) has ids up to", "does not belong to this model")


def test_finetune_with_a_tokenizer_larger_than_the_matrix_leaves_nothing(tmp_path, model_dir, corpus, big_tokenizer_dir):
    from retok.training.finetune import FinetuneConfig, finetune

    with pytest.raises(RetokError, match="does not belong to this model"):
        finetune(model_dir, corpus, tmp_path / "ft", FinetuneConfig(train_bytes=None, seq_len=16), tokenizer=big_tokenizer_dir, progress=False)
    assert not (tmp_path / "ft").exists() and not (tmp_path / "ft.partial").exists()


def test_old_tokenizer_that_is_not_the_models_own_is_refused_and_says_what_differs(tmp_path, model_dir, german_dir, capsys):
    other = tmp_path / "other"
    tiny_tokenizer(GERMAN, vocab_size=280).save_pretrained(other)  # fits the 300-row matrix, but is another vocabulary
    fails(transplant_argv(model_dir, german_dir, tmp_path / "o", "--old-tokenizer", other), capsys,
          "--old-tokenizer", "is not the model's own tokenizer", "ids differ (id ")


# ----------------------------------------------------------------------------- nothing left that blocks the next run


@pytest.mark.parametrize("argv", [["--vocab-size", "0"], ["--max-bytes", "-1"], ["--methods", " , "]])
def test_demo_checks_its_settings_before_creating_anything(tmp_path, argv, capsys):
    out = tmp_path / "demo"
    fails(["demo", "--out", out, *argv], capsys)
    assert list(tmp_path.iterdir()) == []


def test_temporary_folder_of_a_killed_save_is_removed_by_the_next_run(tmp_path, model_dir, german_dir):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".out.tmp-{dead.stdout.strip()}-abc123"
    (stale / "model.safetensors").parent.mkdir()
    (stale / "model.safetensors").write_bytes(b"half written")
    assert main([str(a) for a in transplant_argv(model_dir, german_dir, tmp_path / "out")]) == 0
    assert not stale.exists() and (tmp_path / "out" / "retok_config.json").exists()


def test_temporary_folder_of_a_running_process_is_left_alone(tmp_path):
    from retok.atomic import remove_stale_temporaries

    mine = tmp_path / f".out.tmp-{os.getpid()}-xyz"
    mine.mkdir()
    assert remove_stale_temporaries(tmp_path / "out") == [] and mine.exists()


# ----------------------------------------------------------------------------- misspelled flags and commands


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["transplant", "--sed", "1"], ["unknown option --sed for `retok transplant` (did you mean --seed?)"]),
        (["transplant", "--modle", "M", "--tokenizer", "T", "--out", "O"], ["unknown option --modle", "did you mean --model?"]),
        (["finetune", "--learning-rate", "1"], ["unknown option --learning-rate for `retok finetune`"]),
        (["train-tokenizer", "--kind", "bep"], ["invalid value 'bep' for --kind (did you mean bpe?); choose one of bpe, unigram"]),
        (["tranplant"], ["unknown command 'tranplant' (did you mean transplant?)"]),
        (["transplant", "--model", "M"], ["`retok transplant` needs --tokenizer and --out"]),
        (["--verbose"], ["unknown option --verbose for `retok`"]),
    ],
)
def test_usage_mistakes_are_one_line_with_a_suggestion(argv, needles, capsys):
    fails(argv, capsys, *needles)


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    import retok.cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(retok.cli, "cmd_methods", interrupted)
    assert main(["methods"]) == 130
    assert capsys.readouterr().err.strip() == "retok: interrupted"


@pytest.mark.parametrize("argv", [["--help"], ["transplant", "--method", "wechsel", "--sed", "1"], ["finetune", "--lr", "x", "--help"]])
def test_help_and_argument_errors_import_neither_torch_nor_transformers(argv):
    code = (
        "import sys; from retok.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'faiss', 'fasttext') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)"
    )
    run = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in run.stderr, run.stderr[-2000:]


# ----------------------------------------------------------------------------- messages that name the option


def test_missing_text_names_its_flag(model_dir, capsys):
    fails(["eval", "--model", model_dir, "--text", "nothere.txt"], capsys, "(--text)")


def test_wechsel_checks_its_dictionary_before_training_fasttext(tmp_path, monkeypatch, english_tokenizer, german_tokenizer):
    import torch

    import retok.transfer.initializers.wordspace as wordspace
    from retok.transfer.embeddings import TokenEmbeddings
    from retok.transfer.initializers import init_embeddings

    monkeypatch.setattr(wordspace, "train_fasttext", lambda *a, **k: pytest.fail("trained before checking the dictionary"))
    (tmp_path / "en.txt").write_text("some text\n")
    source = TokenEmbeddings(english_tokenizer, torch.zeros(len(english_tokenizer), 4))
    with pytest.raises(RetokError, match="dictionary file .* does not exist"):
        init_embeddings(source, german_tokenizer, "wechsel", source_text=str(tmp_path / "en.txt"), target_text=str(tmp_path / "en.txt"),
                        dictionary=str(tmp_path / "missing.tsv"))


def test_hub_id_fails_fast_when_the_hub_cannot_be_reached(monkeypatch):
    import retok.loading as loading

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(RetokError, match="not in the local Hugging Face cache, and the hub cannot be reached"):
        loading.load_tokenizer("someone/not-cached-model")


# ----------------------------------------------------------------------------- logs that read well in a file


def test_progress_bars_are_off_when_stderr_is_not_a_terminal(corpus, capsys):
    from retok.progress import bars_on
    from retok.vocab.train import train_tokenizer

    assert not bars_on(True)  # pytest captures stderr: not a terminal
    train_tokenizer(str(corpus), vocab_size=300, like=tiny_tokenizer())
    err = capsys.readouterr().err
    assert "\r" not in err and not [line for line in err.splitlines() if not line.strip()]


def test_transplant_prints_the_report_once(tmp_path, model_dir, german_dir, capsys):
    assert main([str(a) for a in transplant_argv(model_dir, german_dir, tmp_path / "out")]) == 0
    assert "fvt: fvt:" not in capsys.readouterr().out


def test_fasttext_buckets_follow_the_corpus_size(tmp_path):
    import fasttext

    from retok.transfer.static import train_fasttext
    from retok.transfer.static.train import auto_bucket

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = train_fasttext(GERMAN * 20, dim=8, epochs=1, min_count=1, threads=1, cache=False, out=tmp_path / "m.bin", progress=False)
        words = len(fasttext.load_model(str(path)).get_words())
    assert auto_bucket(1) == 10_000 and auto_bucket(10**6) == 2_000_000
    assert path.stat().st_size < 8 * 4 * (words + auto_bucket(words)) + 2**20  # not the 2M-bucket default


def test_finetune_warns_nothing_and_prints_the_curve_one_point_a_line(tmp_path, model_dir, corpus, capsys):
    argv = ["finetune", "--model", model_dir, "--train", corpus, "--eval", corpus, "--out", tmp_path / "ft",
            "--train-bytes", "None", "--seq-len", "16", "--batch-size", "4", "--eval-every", "5", "--eval-bytes", "2000"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([str(a) for a in argv]) == 0
    assert not [w for w in caught if issubclass(w.category, FutureWarning)], [str(w.message) for w in caught]
    out = capsys.readouterr().out
    curve = out[out.index("held-out BPB by training bytes:"):].splitlines()[1:]
    assert len([line for line in curve if line.startswith("  ")]) >= 2


def test_the_cli_catalog_is_current():
    from retok import catalog

    assert catalog.build() == catalog.load(), "retok/catalog.json is stale: run `python -m retok.catalog`"


# ----------------------------------------------------------------------------- a misspelled subcommand


@pytest.mark.parametrize(("argv", "wrong", "guess"), [
    (["zip2zip", "trian", "--model", "x"], "'trian' for `retok zip2zip`", "train"),
    (["large-vocab", "biuld", "--model", "x", "--out", "y"], "'biuld' for `retok large-vocab`", "build"),
    (["dynamic", "evl", "--model", "x", "--text", "t"], "'evl' for `retok dynamic`", "eval"),
    (["zip2zip", "trian"], "'trian'", "train"),
])
def test_a_misspelled_subcommand_is_named_with_a_suggestion_even_when_options_follow(argv, wrong, guess, capsys):
    fails(argv, capsys, f"unknown command {wrong}", f"did you mean {guess}?")


# ----------------------------------------------------------------------------- one convention for flags and help


def every_command():
    """``(prog, parser)`` for every command and subcommand of ``retok`` (plugins included)."""
    from retok.cli import build_parser, commands

    found, todo = [], [build_parser()]
    while todo:
        parser = todo.pop()
        found.append((parser.prog, parser))
        todo += commands(parser).values()
    return found


def test_every_yes_no_option_is_a_bare_flag_with_a_no_form():
    import argparse

    from retok.argparsing import Switch

    flags = [(prog, a) for prog, p in every_command() for a in p._actions if a.nargs == 0 and not isinstance(a, argparse._HelpAction)]
    assert len(flags) >= 15
    for prog, action in flags:
        assert isinstance(action, Switch), (prog, action.option_strings)
        on = [s for s in action.option_strings if not s.startswith("--no-")]
        assert on and all(f"--no-{s[2:]}" in action.option_strings for s in on), (prog, action.option_strings)


@pytest.mark.parametrize(("flag", "value"), [("--tie-encoders", "true"), ("--no-tie-encoders", "false"), ("--protect-digits", "true")])
def test_a_config_switch_needs_no_value(flag, value):
    from retok.cli import build_parser

    args = build_parser().parse_args(["zip2zip", "train", "--model", "m", "--train", "t", "--out", "o", flag])
    assert getattr(args, "opt_" + flag.removeprefix("--no-").removeprefix("--").replace("-", "_")) == value


def test_switches_that_were_store_true_or_store_false_keep_their_meaning():
    from retok.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["eval", "--model", "m", "--text", "t"]).strict is True
    assert parser.parse_args(["eval", "--model", "m", "--text", "t", "--no-strict"]).strict is False
    assert parser.parse_args(["zip2zip", "stats", "--model", "m", "--text", "t", "--protect-digits"]).protect_digits is True
    assert parser.parse_args(["demo", "--no-overwrite"]).overwrite is False


def test_help_shows_every_default_and_every_choice():
    import argparse

    missing = []
    for prog, parser in every_command():
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            helped = " ".join(parser._get_formatter()._get_help_string(action).split())  # noqa: SLF001
            assert helped.split("(")[0].strip()[:30] in text  # what --help prints
            if (action.default not in (None, argparse.SUPPRESS) and "default" not in helped) or \
               (action.choices and not all(str(c) in helped for c in action.choices)):
                missing.append((prog, action.option_strings[0], helped))
    assert not missing, missing[:5]
    help_text = " ".join(every_command_help("retok dynamic eval").split())
    assert "(default: pretokens)" in help_text and "(default: 512)" in help_text


def every_command_help(prog: str) -> str:
    return dict(every_command())[prog].format_help()


@pytest.mark.parametrize("extra", [["--tie-encoders", "yes"], ["--tie-encoders=true"], ["--no-tie-encoders", "false"]])
def test_a_value_given_to_a_switch_is_named(extra, capsys):
    fails(["zip2zip", "train", "--model", "m", "--train", "t", "--out", "o", *extra], capsys, "is a yes/no switch and takes no value",
          "`retok zip2zip train --help`")


# ----------------------------------------------------------------------------- interrupted runs: resume or start over


def test_finetune_overwrite_or_fresh_discards_a_stale_partial_of_other_settings(tmp_path, model_dir, corpus, capsys):
    from retok.training.checkpoints import resume_or_start

    out = tmp_path / "ft"
    resume_or_start(tmp_path / "ft.partial", {"a run": "killed before its first checkpoint"}, log=lambda _: None)
    argv = ["finetune", "--model", model_dir, "--train", corpus, "--out", out, "--train-bytes", "4000", "--seq-len", "16", "--eval-every", "0"]
    fails(argv, capsys, "holds an interrupted run made with other settings", "add --fresh")
    assert main([str(a) for a in [*argv, "--overwrite"]]) == 0
    assert "discarded" in capsys.readouterr().out and (out / "model.safetensors").exists() and not (tmp_path / "ft.partial").exists()
    resume_or_start(tmp_path / "ft2.partial", {"another": "run"}, log=lambda _: None)
    assert main([str(a) for a in [*argv[:6], tmp_path / "ft2", *argv[7:], "--fresh"]]) == 0
    assert "(--fresh)" in capsys.readouterr().out


def test_an_interrupted_resumable_command_says_how_to_resume_and_how_to_start_over(monkeypatch, capsys, tmp_path):
    import retok.training.finetune

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(retok.training.finetune, "finetune", interrupted)
    assert main(["finetune", "--model", "m", "--train", "t", "--out", str(tmp_path / "o")]) == 130
    assert capsys.readouterr().err.strip() == (f"retok: interrupted; rerun the same command to resume from {tmp_path / 'o'}.partial, "
                                               "or add --fresh to discard it and start over")


def test_every_command_that_writes_a_partial_folder_takes_fresh():
    resumable = {"retok demo", "retok finetune", "retok train-hypernet", "retok zip2zip train", "retok large-vocab build"}
    found = {prog for prog, parser in every_command() if "--fresh" in parser._option_string_actions}
    assert found == resumable
