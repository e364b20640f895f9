"""Every output gets 0666 / 0777 minus the umask, as a plain open / mkdir would, under any umask.

``mkstemp`` and ``mkdtemp`` make 0600 / 0700 whatever the umask; retok stages its outputs with them,
and so does transformers (``model.safetensors``).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from retok import transplant
from retok.atomic import atomic_dir, atomic_file, atomic_write_text, publish
from retok.testing import ENGLISH, GERMAN, tiny_llama, tiny_tokenizer
from retok.training.finetune import FinetuneConfig, finetune


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    before = os.umask(request.param)
    yield request.param
    os.umask(before)


def modes(root: Path) -> dict[str, int]:
    return {p.relative_to(root.parent).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def expected(path: Path, umask: int) -> int:
    return (0o777 if path.is_dir() else 0o666) & ~umask


def test_atomic_writes_get_the_usual_mode(tmp_path, umask):
    text = atomic_write_text(tmp_path / "a.json", "{}\n")
    with atomic_file(tmp_path / "b.bin", suffix=".bin") as tmp:
        tmp.write_bytes(b"x")
    assert stat.S_IMODE(text.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o666 & ~umask


def test_an_atomic_folder_fixes_files_that_another_writer_staged_with_mkstemp(tmp_path, umask):
    with atomic_dir(tmp_path / "out") as tmp:
        fd, name = tempfile.mkstemp(dir=tmp)  # 0600, like transformers' safetensors writer
        os.close(fd)
        os.replace(name, tmp / "model.safetensors")
        (tmp / "sub").mkdir(mode=0o700)
        (tmp / "run.sh").write_text("#!/bin/sh\n")
        (tmp / "run.sh").chmod(0o700)
    found = modes(tmp_path / "out")
    assert found == {"out": 0o777 & ~umask, "out/model.safetensors": 0o666 & ~umask, "out/sub": 0o777 & ~umask,
                     "out/run.sh": 0o777 & ~umask}


def test_publish_replaces_the_old_folder_only_once_the_new_one_is_there(tmp_path, umask):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    new = Path(tempfile.mkdtemp(dir=tmp_path))
    (new / "new.txt").write_text("new")
    publish(new, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing left aside
    assert modes(tmp_path / "out")["out"] == 0o777 & ~umask


def test_a_transplant_and_a_finetuned_folder_have_the_usual_modes_throughout(tmp_path, umask):
    old = tiny_tokenizer(ENGLISH)
    saved = transplant(tiny_llama(len(old)), tiny_tokenizer(GERMAN), "fvt", old_tokenizer=old).save_pretrained(tmp_path / "transplanted")
    config = FinetuneConfig(train_bytes=None, seq_len=16, batch_size=4, eval_every=10, checkpoint_every=5)
    out = finetune(saved, GERMAN * 6, tmp_path / "ft", config, progress=False, log=lambda _: None).out
    for root in (saved, out):
        wrong = {name: oct(mode) for name, mode in modes(root).items() if mode != expected(root.parent / name, umask)}
        assert not wrong, wrong
    assert {"model.safetensors", "retok_config.json", "finetune_history.json"} <= {p.name for p in out.iterdir()}
