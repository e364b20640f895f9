"""The README works as written: its Python blocks run, its commands parse, and every `retok.x.y` it names exists."""

import os
import re
import shlex

import pytest
from pathlib import Path


import retok
from retok.moved import RETOK_MOVED
from retok.cli import build_parser, innermost_command
from retok.argparsing import check_unknown_options

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def blocks(language: str, text: str = README) -> list[str]:
    """The fenced code blocks of ``text`` (the README) opened with ```<language> (``""``: a fence without a language)."""
    found, current, opened = [], [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if opened is None:
                opened, current = line[3:].strip(), []
            else:
                if opened == language:
                    found.append("\n".join(current) + "\n")
                opened = None
        elif opened is not None:
            current.append(line)
    return found


def test_every_retok_name_in_the_readme_exists_after_import_retok():
    # the old paths of the "Moved modules" table are checked (as imports) in test_layout.py
    names = sorted(set(re.findall(r"`(retok(?:\.[A-Za-z_][A-Za-z0-9_]*)+)", README)) - set(RETOK_MOVED))
    assert len(names) > 10
    for dotted in names:
        obj = retok
        for part in dotted.split(".")[1:]:
            assert hasattr(obj, part), f"{dotted}: {part!r} is missing"
            obj = getattr(obj, part)


def test_every_retok_command_in_the_readme_parses():
    lines = [part.strip() for block in blocks("bash") + blocks("") for line in block.splitlines() for part in line.split("#")[0].split("&&")]
    commands_seen = [line for line in lines if line.startswith("retok ") and "|" not in line and "[" not in line]
    assert commands_seen
    for line in commands_seen:
        argv = shlex.split(line)[1:]
        parser = build_parser(argv[argv.index("--method") + 1] if "--method" in argv else "fvt")
        command, start = innermost_command(parser, argv)
        check_unknown_options(command, argv[start:])
        parser.parse_args(argv)


#: the flags whose value is a file or folder that the command reads
READ_FLAGS = {"--model", "--tokenizer", "--old-tokenizer", "--train", "--eval", "--text", "--corpus", "--like", "--donor", "--hypernet",
              "--base-model", "--swapped-base", "--source-text", "--target-text", "--teacher", "--eval-text"}
#: what the quick start's `make demo` leaves
MADE_BY_THE_QUICK_START = {"runs/demo", "runs/demo/model"}


def readme_commands(part: str) -> list[str]:
    """Every command line of the ```bash blocks in ``part`` of the README, in order (``a && b`` is two), comments dropped."""
    found = []
    for block in blocks("bash", part):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            found += [part.strip() for part in line.split("&&") if part.strip() and not part.strip().startswith("#")]
    return found


@pytest.mark.parametrize("part", ["teaser", "from the quick start on"])
def test_every_file_a_readme_command_reads_is_made_by_an_earlier_step(part):
    teaser, rest = README.split("## Quick start", 1)
    made, variables, problems = {os.path.normpath(p) for p in MADE_BY_THE_QUICK_START}, set(), []
    for command in readme_commands(teaser if part == "teaser" else rest):
        if m := re.fullmatch(r"([A-Z_]+)=\$\(retok assets --path ([\w-]+)\)", command):
            variables.add(f"${m[1]}")
            continue
        if not command.startswith(("retok ", "python recipes/")):
            continue
        argv = shlex.split(command.replace("$", "\\$"))
        value = {flag: argv[i + 1] for i, flag in enumerate(argv[:-1]) if flag.startswith("--")}
        for i, flag in enumerate(argv[:-1]):
            read = argv[i + 1]
            if flag in READ_FLAGS and not (read in variables or os.path.normpath(read) in made):
                problems.append(f"`{command}` reads {read} ({flag}), which no earlier step makes")
        if argv[:2] == ["retok", "split"]:
            name = value.get("--name") or value.get("--lang")
            made |= {os.path.normpath(os.path.join(value.get("--out", "."), f"{name}{end}")) for end in (".txt", "-heldout.txt")}
        if "--out" in value and argv[:2] != ["retok", "split"]:  # split's --out is a folder it adds two files to
            out = os.path.normpath(value["--out"])
            if out in made and "--overwrite" not in argv:
                problems.append(f"`{command}` writes {out} again without --overwrite (an earlier step made it)")
            made.add(out)
    assert not problems, "\n".join(problems)


def test_the_readme_python_block_runs_as_written_on_the_tiny_fixtures(tmp_path, monkeypatch, model_dir, german_tokenizer):
    import retok.assets.store

    german_tokenizer.save_pretrained(tmp_path / "tokenizer-de")
    monkeypatch.chdir(tmp_path)
    for where in (retok.assets, retok.assets.store):  # the package caches its lazily loaded names
        monkeypatch.setattr(where, "smollm2", lambda **_: model_dir)
    for block in blocks("python"):
        exec(block, {})  # noqa: S102 - the README's own code, unchanged
    assert (tmp_path / "model-de" / "retok_config.json").exists()
