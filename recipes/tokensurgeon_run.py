"""Run mergekit's ``mergekit-tokensurgeon`` (0.1.5, in ``.venv-mergekit``) on one model and donor, unpatched.

    python recipes/tokensurgeon_run.py MODEL DONOR OUT -a omp -k 64
    python recipes/tokensurgeon_run.py MODEL DONOR OUT -a subword

The tool writes into ``OUT.partial``; only a run that exits cleanly is renamed to ``OUT``, with
``OUT/tokensurgeon_run.json`` beside the weights: the exact command, wall seconds, the tool's peak RSS
and the warnings it logged. An existing ``OUT`` is refused (pass ``--force`` to replace it).
Build the environment first: ``bash recipes/tokensurgeon_env.sh``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from retok.measure import run_measured

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TOOL = ROOT / ".venv-mergekit" / "bin" / "mergekit-tokensurgeon"


def tokensurgeon_command(tool: Path, model: str, donor: str, out: Path, algorithm: str, k: int | None) -> list[str]:
    """The command line, CPU only, exactly as a user would type it."""
    cmd = [str(tool), model, donor, str(out), "-a", algorithm, "--device", "cpu"]
    return cmd + (["-k", str(k)] if k is not None else [])


def warnings_in(log: str) -> list[str]:
    """The tool's WARNING/ERROR lines, without duplicates, in order."""
    seen: dict[str, None] = {}
    for line in log.splitlines():
        if "WARNING" in line or "ERROR" in line:
            seen.setdefault(line.strip()[:300], None)
    return list(seen)


def run(tool: Path, model: str, donor: str, out: Path, algorithm: str, k: int | None, force: bool) -> dict:
    if not tool.exists():
        raise SystemExit(f"error: {tool} is missing; build it with `bash recipes/tokensurgeon_env.sh`")
    for name, path in (("model", model), ("donor", donor)):
        if not Path(path).is_dir():
            raise SystemExit(f"error: the {name} {path!r} is not a folder (this wrapper runs offline on local folders)")
    if out.exists() and not force:
        raise SystemExit(f"error: {out} already exists; pass --force to replace it")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = tokensurgeon_command(tool, model, donor, partial, algorithm, k)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory(prefix="tokensurgeon-log-") as tmp:
        log_path = Path(tmp) / "log.txt"
        measured = run_measured(cmd, log_path, env=env)  # the tool's own peak RSS, not this process's
        log = log_path.read_text(errors="replace")
    if measured.exit_code != 0:
        sys.stderr.write(log[-4000:])
        shutil.rmtree(partial, ignore_errors=True)
        raise SystemExit(f"error: mergekit-tokensurgeon exited with {measured.exit_code}; nothing was written to {out}")
    record = {
        "command": cmd[:3] + [str(out)] + cmd[4:],
        "algorithm": algorithm,
        "k": k,
        "seconds": round(measured.seconds, 1),
        "peak_rss_mib": round(measured.peak_rss_mib),
        "warnings": warnings_in(log),
    }
    (partial / "tokensurgeon_run.json").write_text(json.dumps(record, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the base model's folder")
    parser.add_argument("donor", help="the donor model's folder (its tokenizer is the new tokenizer)")
    parser.add_argument("out", type=Path, help="output folder (must not exist)")
    parser.add_argument("-a", "--algorithm", default="omp", help="tokensurgeon's --approximation-method (default omp)")
    parser.add_argument("-k", type=int, default=None, help="tokensurgeon's -k (its default is 64)")
    parser.add_argument("--tool", type=Path, default=DEFAULT_TOOL, help=f"the mergekit-tokensurgeon executable (default {DEFAULT_TOOL})")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT")
    args = parser.parse_args(argv)
    record = run(args.tool, args.model, args.donor, args.out, args.algorithm, args.k, args.force)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
