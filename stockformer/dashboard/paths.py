"""Where the dashboard reads from, and the one check every run path goes through.

The runs root comes from `--runs` (streamlit run app.py -- --runs DIR), else the
STOCKFORMER_RUNS environment variable, else `runs/`; the picks folder likewise from
`--predictions`, STOCKFORMER_PREDICTIONS or `predictions/`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from stockformer.errors import RunError

DEFAULT_RUNS = "runs"
DEFAULT_PREDICTIONS = "predictions"


@dataclass(frozen=True)
class Locations:
    runs_root: Path
    predictions: Path


def parse_locations(argv: list[str] | None = None, env: dict[str, str] | None = None) -> Locations:
    """Flags win over environment variables, which win over the defaults."""
    env = dict(os.environ) if env is None else env
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--runs", default=None)
    parser.add_argument("--predictions", default=None)
    # unknown arguments (pytest's, streamlit's) are someone else's business
    args, _ = parser.parse_known_args(argv or [])
    runs = args.runs or env.get("STOCKFORMER_RUNS") or DEFAULT_RUNS
    picks = args.predictions or env.get("STOCKFORMER_PREDICTIONS") or DEFAULT_PREDICTIONS
    return Locations(Path(runs).expanduser().resolve(), Path(picks).expanduser().resolve())


def safe_run_path(root: Path, name: str) -> Path:
    """`root/name` resolved, refused unless it is a direct child folder of the runs root.

    Run names come from the URL (?run=...) and from folder listings; resolving first and
    then checking the parent defeats `..`, absolute paths and symlinks pointing outside.
    """
    root = Path(root).resolve()
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\x00" in name:
        raise RunError(f"run name {name!r}: not a plain folder name under {root}")
    path = (root / name).resolve()
    if path.parent != root:
        raise RunError(f"run name {name!r}: resolves outside the runs root {root}")
    return path


def safe_child(run_dir: Path, relative: str) -> Path:
    """A file inside a run directory, refused if a symlink leads it outside that run."""
    run_dir = Path(run_dir).resolve()
    path = (run_dir / relative).resolve()
    if not path.is_relative_to(run_dir):
        raise RunError(f"{run_dir.name}/{relative}: resolves outside the run directory")
    return path
