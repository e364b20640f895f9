"""Execute every notebook so the walkthroughs never rot."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


# notebooks on the real SmolLM2 are slow (about a minute); they run in CI all the same
SLOW = {"02_finetune.ipynb", "03_zip2zip.ipynb", "04_large_vocab.ipynb"}


@pytest.mark.parametrize("path", [pytest.param(p, marks=[pytest.mark.slow] if p.name in SLOW else []) for p in NOTEBOOKS], ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env={**os.environ, "TMPDIR": str(tmp_path)})  # the notebooks' scratch folders land in tmp_path, which pytest removes
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_committed_notebook_shows_its_outputs_and_plots_inline(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = [o for cell in code for o in cell.get("outputs", [])]
    assert outputs, f"{path.name} is committed without outputs: run `python recipes/run_notebooks.py {path.relative_to(path.parents[1])}`"
    assert all(cell.get("execution_count") for cell in code), f"{path.name} has cells that were not executed"
    assert not [o for o in outputs if o.get("output_type") == "error"]
    plots = any("plt." in cell.source for cell in code)
    assert not any('matplotlib.use("Agg")' in cell.source for cell in code), "a notebook's charts must display inline"
    if plots:
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} draws a chart but shows none"
