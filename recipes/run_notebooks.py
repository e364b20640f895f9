"""Execute the notebooks in place on their small settings, so that the committed copies show their tables and plots.

How to run (after `make install`; the real assets are fetched on first use):
    python recipes/run_notebooks.py                                  # every notebooks/*.ipynb, ~4 min on 2 cores
    python recipes/run_notebooks.py notebooks/01_transplant.ipynb    # one of them

Each notebook runs in a scratch folder, which is also its TMPDIR (what it writes does not land in the repository
nor outlive the run), and is saved with
its outputs; the test suite executes them again and checks that the committed outputs are there.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
#: stderr that says nothing to a reader of the committed copy: progress bars, and tqdm's note that ipywidgets is missing
NOISE = re.compile(r"(it/s\]|s/it\]|TqdmWarning|from \.autonotebook import)")


def tidy(notebook: nbformat.NotebookNode) -> None:
    """Drop the stderr outputs that are only progress bars or tqdm's widget warning (in place)."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stderr"
                                                                       and (NOISE.search(o.get("text", "")) or not o.get("text", "").strip()))]


def execute(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="retok-notebook-") as work:
        NotebookClient(notebook, timeout=1200, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": work}}).execute(env={**os.environ, "TMPDIR": work})
    tidy(notebook)
    nbformat.write(notebook, path)
    print(f"executed {path.relative_to(ROOT)}")


if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb")):
        execute(Path(name).resolve())
