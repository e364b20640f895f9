"""The README works as written: its Python blocks run, its commands parse, and every `retok.x.y` it names exists."""

import re
import shlex
from pathlib import Path


import retok
from retok.moved import RETOK_MOVED
from retok.cli import build_parser, innermost_command
from retok.argparsing import check_unknown_options

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    """The README's fenced code blocks opened with ```<language> (``""``: a fence without a language)."""
    found, current, opened = [], [], None
    for line in README.splitlines():
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


def test_python_blocks_run_on_the_tiny_fixtures(tmp_path, monkeypatch, model_dir, german_tokenizer):
    german_tokenizer.save_pretrained(tmp_path / "tokenizer-de")
    monkeypatch.chdir(tmp_path)
    code = blocks("python")
    assert code, "the README has no python block"
    for block in code:
        exec(block.replace("path/to/model", str(model_dir)), {})  # noqa: S102 - the README's own code
    assert (tmp_path / "model-de" / "retok_config.json").exists()


def test_every_retok_command_in_the_readme_parses():
    lines = [line.split("#")[0].strip() for block in blocks("bash") + blocks("") for line in block.splitlines()]
    commands_seen = [line for line in lines if line.startswith("retok ") and "|" not in line and "[" not in line]
    assert commands_seen
    for line in commands_seen:
        argv = shlex.split(line)[1:]
        parser = build_parser(argv[argv.index("--method") + 1] if "--method" in argv else "fvt")
        command, start = innermost_command(parser, argv)
        check_unknown_options(command, argv[start:])
        parser.parse_args(argv)
