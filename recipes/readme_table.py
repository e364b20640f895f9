"""Copy the main job's generated table into README.md (never type result tables by hand).

How to run (after `make demo`):
    python recipes/readme_table.py runs/demo
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

START, END = "<!-- demo-table:start -->", "<!-- demo-table:end -->"


def render(run: Path) -> str:
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    generation = results["generation"]
    return (
        (run / "results.md").read_text(encoding="utf-8")
        + f"\nGerman generation from the saved `{generation['method']}` model (greedy, zero-shot, no training):\n\n"
        + f"```text\n{generation['text']}\n```\n"
    )


def main() -> None:
    run = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/demo")
    readme = Path(__file__).resolve().parents[1] / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START} ... {END} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{render(run)}{END}{tail}", encoding="utf-8")
    print(f"updated {readme} from {run}")


if __name__ == "__main__":
    main()
