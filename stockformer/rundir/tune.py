"""A `stockformer tune` folder: what it holds and its trials table, written and read here.

The study folder (`runs/<stamp>-<name>-tune/` by default) holds the Optuna study (study.db,
SQLite, so a killed search resumes), the base config it searched from (config.yaml, inputs
absolute), the search space (space.yaml), the trials table (trials.csv: one row per trial,
one column per searched key) and the best trial's config (best_config.yaml, ready for
`stockformer train --config`).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import polars as pl

from stockformer.config import Config
from stockformer.errors import RunError
from stockformer.io import write_text
from stockformer.rundir.stored_config import absolute_inputs

STUDY_FILE = "study.db"
SPACE_FILE = "space.yaml"
TRIALS_FILE = "trials.csv"
BEST_CONFIG_FILE = "best_config.yaml"
# the fixed columns, then one per searched key (its dotted name), then why a trial failed
TRIAL_COLUMNS = ("number", "state", "value", "epochs", "seconds")
ERROR_COLUMN = "error"


def is_tune_dir(path: Path) -> bool:
    """A study folder: it holds the study or its table (before the first trial ends, only the study)."""
    return (path / STUDY_FILE).is_file() or (path / TRIALS_FILE).is_file()


def write_trials(study_dir: str | Path, rows: list[dict[str, Any]], param_keys: list[str]) -> Path:
    """trials.csv, atomically: TRIAL_COLUMNS, the searched keys (empty where a trial did not
    reach them), then error. NaN / None values are written as empty cells."""
    columns = [*TRIAL_COLUMNS, *param_keys, ERROR_COLUMN]
    frame = pl.DataFrame([{c: _cell(row.get(c)) for c in columns} for row in rows],
                         schema={c: pl.Utf8 for c in columns}, orient="row")
    buf = io.StringIO()
    frame.write_csv(buf)
    return write_text(Path(study_dir) / TRIALS_FILE, buf.getvalue())


def _cell(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return repr(value) if isinstance(value, float) else str(value)  # repr: floats round-trip


def read_trials(study_dir: str | Path) -> pl.DataFrame:
    """The trials table; RunError (one line naming the file) when missing or malformed."""
    path = Path(study_dir) / TRIALS_FILE
    if not path.is_file():
        raise RunError(f"{path}: missing (no trial has finished yet)")
    try:
        frame = pl.read_csv(path, infer_schema_length=None)
    except Exception as err:  # polars raises several unrelated types for unreadable files
        raise RunError(f"{path}: cannot be read ({type(err).__name__})") from None
    missing = [c for c in TRIAL_COLUMNS if c not in frame.columns]
    if missing:
        raise RunError(f"{path}: missing columns {', '.join(missing)}")
    return frame


def write_best_config(study_dir: str | Path, cfg: Config, note: str) -> Path:
    """best_config.yaml: `cfg` with absolute input paths (usable from any folder), `note` as
    a comment on top (which trial, what validation score)."""
    header = "".join(f"# {line}\n" for line in note.splitlines())
    return write_text(Path(study_dir) / BEST_CONFIG_FILE, header + absolute_inputs(cfg).to_yaml())


def trials_summary(frame: pl.DataFrame) -> str:
    """One line: how many trials ended how, and the best value (for the run browser)."""
    counts = frame.group_by("state").len().sort("state")
    parts = [f"{n} {s}" for s, n in counts.iter_rows()]
    done = frame.filter(pl.col("state") == "complete").drop_nulls("value")
    best = ""
    if done.height:
        top = done.sort("value", descending=True).row(0, named=True)
        best = f"; best validation RankIC {float(top['value']):.4f} (trial {top['number']})"
    return f"{frame.height} trials ({', '.join(parts) or 'none'}){best}"
