"""Where the dashboard reads from (every run path then goes through stockformer.rundir'
safe_run_path / safe_child).

The runs root comes from `--runs` (streamlit run app.py -- --runs DIR), else the
STOCKFORMER_RUNS environment variable, else `runs/`; the picks folder likewise from
`--predictions`, STOCKFORMER_PREDICTIONS or `predictions/`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

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
