"""recipes/tokensurgeon_run.py wraps mergekit-tokensurgeon without patching it: refusals, the record, nothing half-written.

A fake tool (a shell script with the real tool's calling convention: MODEL DONOR OUT ...) stands in
for mergekit, so these run everywhere; the real tool's numbers come from ``recipes/donor_benchmark.py``.
"""

from __future__ import annotations

import importlib.util
import json
import stat
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("tokensurgeon_run", ROOT / "recipes" / "tokensurgeon_run.py")
wrapper = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wrapper)

WRITES_A_MODEL = """#!/bin/sh
echo "INFO loading $1"
echo "WARNING Token '<pad>' not found in donor"
echo "WARNING Token '<pad>' not found in donor"
mkdir -p "$3" && echo '{}' > "$3/config.json"
"""
FAILS_HALFWAY = """#!/bin/sh
mkdir -p "$3" && echo partial > "$3/model.safetensors"
echo "ERROR out of memory" >&2
exit 3
"""


def fake_tool(tmp_path: Path, script: str) -> Path:
    tool = tmp_path / "mergekit-tokensurgeon"
    tool.write_text(script)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return tool


@pytest.fixture
def folders(tmp_path):
    model, donor = tmp_path / "model", tmp_path / "donor"
    model.mkdir(), donor.mkdir()
    return str(model), str(donor)


def test_command_is_the_users_command_on_cpu_with_k_only_when_given():
    tool = Path("/x/mergekit-tokensurgeon")
    assert wrapper.tokensurgeon_command(tool, "M", "D", Path("O"), "omp", 64) == [str(tool), "M", "D", "O", "-a", "omp", "--device", "cpu", "-k", "64"]
    assert wrapper.tokensurgeon_command(tool, "M", "D", Path("O"), "subword", None)[-1] == "cpu"


def test_warnings_are_kept_once_in_order():
    log = "INFO a\nWARNING b\nERROR c\nWARNING b\nINFO d\n"
    assert wrapper.warnings_in(log) == ["WARNING b", "ERROR c"]


def test_a_clean_run_is_renamed_into_place_with_its_record(tmp_path, folders):
    out = tmp_path / "out"
    record = wrapper.run(fake_tool(tmp_path, WRITES_A_MODEL), *folders, out, "omp", 64, force=False)
    assert (out / "config.json").is_file() and not (tmp_path / "out.partial").exists()
    saved = json.loads((out / "tokensurgeon_run.json").read_text())
    assert saved == record
    assert saved["command"][3] == str(out) and saved["command"][-2:] == ["-k", "64"]
    assert saved["warnings"] == ["WARNING Token '<pad>' not found in donor"]
    assert saved["seconds"] >= 0 and saved["peak_rss_mib"] > 0


def test_a_failed_run_leaves_nothing_behind(tmp_path, folders):
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="exited with 3; nothing was written"):
        wrapper.run(fake_tool(tmp_path, FAILS_HALFWAY), *folders, out, "omp", 64, force=False)
    assert not out.exists() and not (tmp_path / "out.partial").exists()


def test_an_existing_output_is_refused_without_force_and_replaced_with_it(tmp_path, folders):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    tool = fake_tool(tmp_path, WRITES_A_MODEL)
    with pytest.raises(SystemExit, match="already exists; pass --force"):
        wrapper.run(tool, *folders, out, "omp", 64, force=False)
    assert (out / "keep.txt").read_text() == "mine"
    wrapper.run(tool, *folders, out, "omp", 64, force=True)
    assert not (out / "keep.txt").exists() and (out / "config.json").is_file()


@pytest.mark.parametrize("missing", ["tool", "model", "donor"])
def test_a_missing_tool_or_folder_is_refused_before_anything_runs(tmp_path, folders, missing):
    tool = fake_tool(tmp_path, WRITES_A_MODEL)
    model, donor = folders
    args = {"tool": tool, "model": model, "donor": donor}
    args[missing] = tmp_path / "nowhere" if missing == "tool" else str(tmp_path / "nowhere")
    with pytest.raises(SystemExit, match="missing|not a folder"):
        wrapper.run(args["tool"], args["model"], args["donor"], tmp_path / "out", "omp", 64, force=False)
    assert not (tmp_path / "out").exists()
