"""retok's lm-eval tasks: items only from held-out text, candidates that fit, and lm-eval's scores equal to an independent scorer's."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from retok.assets import LoHelp
from retok.data import is_held_out
from retok.errors import RetokError
from retok.tasks import TASKS, Sources, check_tasks, evaluate, write_task_folder
from retok.tasks.folder import read_index
from retok.tasks.items import Distractors, cloze_items, parallel_items, shape, translation_items, word_counts
from retok.testing import tiny_llama, tiny_tokenizer

SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "vo", "de", "ba", "fu", "gi"]


def words(rng: random.Random, n: int, *, title: bool) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        out.add(w.title() if title else w)
    return sorted(out)


@pytest.fixture(scope="module")
def corpus():
    """A made-up bilingual corpus: 240 word pairs, aligned paragraphs built from them on 40 pages, and a dictionary."""
    rng = random.Random(0)
    english = words(rng, 240, title=False)
    german = words(random.Random(1), 240, title=True)
    dictionary = list(zip(english, german))
    pairs, pages = [], []
    for i in range(1600):
        chosen = rng.sample(dictionary, 9)
        pairs.append((" ".join(e for e, _ in chosen) + ".", " ".join(g for _, g in chosen) + "."))
        pages.append(f"page{i % 40}.html")
    return {"dictionary": dictionary, "pairs": pairs, "pages": pages, "german": [g for _, g in pairs], "english": [e for e, _ in pairs]}


@pytest.fixture(scope="module")
def lohelp(tmp_path_factory, corpus) -> LoHelp:
    root = tmp_path_factory.mktemp("lohelp")
    (root / "lohelp.de.txt").write_text("\n".join(corpus["german"]) + "\n", encoding="utf-8")
    (root / "lohelp.en.txt").write_text("\n".join(corpus["english"]) + "\n", encoding="utf-8")
    (root / "lohelp.en-de.tsv").write_text("".join(f"{e}\t{d}\n" for e, d in corpus["pairs"]), encoding="utf-8")
    (root / "lohelp.en-de.pages.txt").write_text("".join(p + "\n" for p in corpus["pages"]), encoding="utf-8")
    return LoHelp(root)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, lohelp, corpus) -> Path:
    out = tmp_path_factory.mktemp("tasks")
    write_task_folder(out, Sources(lohelp, corpus["dictionary"], progress=False))
    return out


# ----------------------------------------------------------------------------- items


def test_cloze_items_come_only_from_held_out_paragraphs_and_hold_their_answer(corpus):
    counts = word_counts(corpus["german"])
    items = cloze_items(corpus["german"], counts)
    assert items
    held = [p for p in corpus["german"] if is_held_out(p)]
    for item in items:
        answer = item["choices"][item["gold"]]
        assert f"{item['query']} {answer}" in held  # the paragraph itself, cut before its last word
        assert len(set(item["choices"])) == 4


def test_parallel_items_pair_held_out_paragraphs_of_one_page(corpus):
    items = parallel_items(corpus["pairs"], corpus["pages"])
    assert items
    page_of = {de: page for (_, de), page in zip(corpus["pairs"], corpus["pages"])}
    truth = dict(corpus["pairs"])
    for item in items:
        english = item["query"].removeprefix("English: ").removesuffix("\nGerman:")
        assert is_held_out(english) and truth[english] == item["choices"][item["gold"]]
        assert all(is_held_out(c) and page_of[c] == item["page"] for c in item["choices"])


def test_translation_items_ask_held_out_headwords_with_no_other_translation_among_the_candidates(corpus):
    items = translation_items(corpus["dictionary"], corpus["pairs"], word_counts(corpus["german"]))
    assert items
    truth = dict(corpus["dictionary"])
    for item in items:
        assert is_held_out(item["english"])
        assert item["choices"][item["gold"]] == truth[item["english"]]
        assert item["query"].endswith(f"English: {item['english']}\nGerman:")


def test_distractors_match_the_answer_in_shape_and_length_and_are_never_an_inflection_of_it():
    counts = {"Tabelle": 50, "Tabellen": 48, "Fenster": 45, "Zeilen": 40, "Spalte": 52, "Datei": 60, "Ansicht": 49, "ANSICHT": 49,
              "rechts": 47, "Gruppe": 44}
    picked = Distractors(counts).pick("Tabelle")
    assert picked is not None and len(picked) == 3
    assert "Tabellen" not in picked and "ANSICHT" not in picked and "rechts" not in picked
    assert all(shape(w) == "Title" and abs(len(w) - 7) <= 1 for w in picked)
    assert Distractors(counts).pick("Tabelle", exclude=["Fenster", "Spalte", "Ansicht", "Gruppe", "Zeilen"]) is None


def test_the_answer_position_varies(corpus):
    items = cloze_items(corpus["german"], word_counts(corpus["german"]))
    assert len({item["gold"] for item in items}) == 4


# ----------------------------------------------------------------------------- folder


def test_the_folder_holds_every_task_with_its_item_count(folder):
    index = read_index(folder)
    assert set(index["tasks"]) == set(TASKS)
    for name, entry in index["tasks"].items():
        rows = (folder / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(rows) == entry["items"] > 0
        assert f"task: {name}" in (folder / f"{name}.yaml").read_text(encoding="utf-8")


def test_a_misspelled_retok_task_is_refused_with_the_closest_name():
    with pytest.raises(RetokError, match="did you mean 'retok_cloze_de'"):
        check_tasks(["retok_clozee_de"])
    assert check_tasks(["retok_bpb"]) == ["retok_bpb_de", "retok_bpb_en"]


# ----------------------------------------------------------------------------- lm-eval on a tiny model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, corpus) -> Path:
    tokenizer = tiny_tokenizer(corpus["german"][:200] + corpus["english"][:200], vocab_size=400)
    model = tiny_llama(len(tokenizer), seed=3)
    out = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def continuation_logprob(model, tokenizer, context: str, continuation: str, prefix: int) -> float:
    """log p(continuation | context), tokenized as lm-eval does (the whole string, then split at the context's tokens)."""
    if context:
        ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
        whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    else:
        ctx = [prefix]
        whole = ctx + tokenizer(continuation, add_special_tokens=False)["input_ids"]
    cont = whole[len(ctx):]
    with torch.no_grad():
        logits = model(torch.tensor([whole[:-1]])).logits[0].float()
    logp = torch.log_softmax(logits, -1)[len(ctx) - 1:]
    return float(logp.gather(1, torch.tensor(cont)[:, None]).sum())


@pytest.mark.parametrize("task", ["retok_translate_en_de", "retok_parallel_en_de", "retok_cloze_de"])
def test_lm_eval_scores_each_choice_task_as_an_independent_scorer_does(task, folder, model_dir):
    from retok.eval import document_separator
    from retok.loading import load_model, load_tokenizer

    limit = 12
    results = evaluate(model_dir, [task], task_folder=folder, limit=limit, batch_size=4, progress=False).metrics(task)
    model, tokenizer = load_model(model_dir).eval(), load_tokenizer(model_dir)
    prefix = document_separator(tokenizer)
    rows = [json.loads(line) for line in (folder / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()[:limit]]
    hits = {"acc": 0, "acc_norm": 0, "acc_mutual_info": 0}
    for row in rows:
        cond = [continuation_logprob(model, tokenizer, row["query"], " " + c, prefix) for c in row["choices"]]
        hits["acc"] += max(range(4), key=lambda i: cond[i]) == row["gold"]
        hits["acc_norm"] += max(range(4), key=lambda i: cond[i] / len(row["choices"][i])) == row["gold"]
        uncond = [continuation_logprob(model, tokenizer, "", " " + c, prefix) for c in row["choices"]]
        hits["acc_mutual_info"] += max(range(4), key=lambda i: cond[i] - uncond[i]) == row["gold"]
    for metric in TASKS[task].metrics:
        assert results[metric] == pytest.approx(hits[metric] / limit), metric


def test_lm_eval_bits_per_byte_equals_retok_eval_with_lm_evals_window_start(folder, model_dir):
    from retok.eval import bits_per_byte
    from retok.loading import load_model, load_tokenizer

    text = json.loads((folder / "retok_bpb_de.jsonl").read_text(encoding="utf-8"))["text"]
    model, tokenizer = load_model(model_dir), load_tokenizer(model_dir)
    ours = bits_per_byte(model, tokenizer, text, window=64, progress=False, window_start="previous")
    assert ours.n_windows > 3
    theirs = evaluate(model_dir, ["retok_bpb_de"], task_folder=folder, window=64, batch_size=4, progress=False).metrics("retok_bpb_de")
    assert theirs["bits_per_byte"] == pytest.approx(ours.bpb, rel=1e-5)
    # retok's own protocol differs only in each later window's first input (the separator instead of the previous token)
    fresh = bits_per_byte(model, tokenizer, text, window=64, progress=False)
    assert fresh.bpb != ours.bpb and math.isclose(fresh.bpb, ours.bpb, rel_tol=0.05)


def test_one_window_texts_score_the_same_in_both_protocols(model_dir):
    from retok.eval import bits_per_byte
    from retok.loading import load_model, load_tokenizer

    model, tokenizer = load_model(model_dir), load_tokenizer(model_dir)
    text = "Tabelle Datei Fenster."
    a = bits_per_byte(model, tokenizer, text, progress=False)
    b = bits_per_byte(model, tokenizer, text, progress=False, window_start="previous")
    assert a.bpb == b.bpb and a.n_windows == 1


# ----------------------------------------------------------------------------- command line


def test_retok_eval_tasks_list_names_every_task_and_the_folder(folder, capsys):
    from retok.cli import main

    assert main(["eval", "--tasks", "list", "--task-folder", str(folder)]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in TASKS) and str(folder) in out and "items" in out


def test_retok_eval_tasks_prints_lm_evals_table_and_writes_the_metrics(folder, model_dir, tmp_path, capsys):
    from retok.cli import main

    report = tmp_path / "tasks.json"
    argv = ["eval", "--model", str(model_dir), "--tasks", "retok_cloze_de", "--task-folder", str(folder), "--limit", "4", "--json", str(report)]
    assert main(argv) == 0
    assert "|retok_cloze_de" in capsys.readouterr().out.replace(" ", "")
    metrics = json.loads(report.read_text())["tasks"]["retok_cloze_de"]
    assert 0.0 <= metrics["acc"] <= 1.0 and "acc_stderr" in metrics


@pytest.mark.parametrize(("argv", "message"), [
    (["eval", "--model", "M"], "needs --text FILE"),
    (["eval", "--tasks", "retok_cloze_de"], "needs --model"),
    (["eval", "--model", "M", "--tasks", "retok_clozee_de"], "did you mean 'retok_cloze_de'"),
    (["eval", "--model", "M", "--text", "t.txt", "--tasks", "retok_cloze_de"], "not both"),
])
def test_retok_eval_refuses_a_wrong_task_command_in_one_line(argv, message, capsys):
    from retok.cli import main

    assert main(argv) == 2
    assert message in capsys.readouterr().err
