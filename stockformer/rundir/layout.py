"""Where things live in a run directory `runs/<id>/`, and how run folders are named.

Member 0 of a seed ensemble is the run itself (`model.pt`, `checkpoint.pt`, `history.csv` at
the top, as for a single model); member k >= 1 lives in `ensemble/m<k>/`. How many members a
run has comes from its config (`train.ensemble`, see `ensemble_size`), never from what happens
to lie on disk. Outside predictions (`backtest --predictions`, `evaluate` without a run) get a
folder of their own, `<stamp>-external`, so they never mix with a trained run's files.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from stockformer.config import Config
from stockformer.errors import RunError

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.parquet"
SYMBOLS_FILE = "symbols.json"  # the universe the model is tied to, in model order
FEATURES_FILE = "feature_names.json"
GRAPH_FILE = "graph.npz"
MODEL_FILE = "model.pt"
BACKTEST_DIR = "backtest"
SUMMARY_FILE = f"{BACKTEST_DIR}/summary.json"
COMPARISON_FILE = "comparison.csv"  # a `stockformer compare` folder holds this, not a model
SIGNAL_FILE = "signal.json"  # `stockformer evaluate`: signal metrics and IC decay
DAILY_IC_FILE = "daily_ic.parquet"
ENSEMBLE_DIR = "ensemble"
# finished work a rerun skips (stockformer/train/outcomes.py): one window's fit, one comparison row
OUTCOME_FILE = "outcome.pkl"
ROW_FILE = "comparison_row.json"

EXTERNAL_NAME = "external"
_STAMP = "%Y%m%d-%H%M%S"
# new_run_dir's names for outside predictions: <stamp>-external, -2, -3... on a clash
_EXTERNAL_FOLDER = re.compile(r"\d{8}-\d{6}-" + EXTERNAL_NAME + r"(-\d+)?")
# non-learned references: the same numbers for any seed, so they are one member whatever K is
SEEDLESS_MODELS = ("momentum", "reversal")


def new_run_dir(cfg: Config, root: str | Path | None = None) -> Path:
    """A new, empty root/<stamp>-<cfg.name> folder (root: cfg.runs_dir)."""
    root = Path(root or cfg.runs_dir)
    stamp = datetime.now().strftime(_STAMP)
    path = root / f"{stamp}-{cfg.name}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = root / f"{stamp}-{cfg.name}-{suffix}"
    path.mkdir(parents=True)
    return path


def external_run_dir(runs_dir: str | Path) -> Path:
    """A new, empty runs_dir/<stamp>-external/ folder (the training runs' naming)."""
    return new_run_dir(Config(name=EXTERNAL_NAME), runs_dir)


def is_external_name(name: str) -> bool:
    """Whether a folder name is one external_run_dir gives."""
    return _EXTERNAL_FOLDER.fullmatch(name) is not None


def ensemble_size(cfg: Config) -> int:
    """Members a run of `cfg` has: train.ensemble, or 1 for the seedless references."""
    return 1 if cfg.model.name in SEEDLESS_MODELS else int(cfg.train.ensemble)


def member_dir(run_dir: str | Path, k: int) -> Path:
    """Where member k writes its model, checkpoint and history (member 0: the run dir)."""
    run_dir = Path(run_dir)
    return run_dir if k == 0 else run_dir / ENSEMBLE_DIR / f"m{k}"


def member_model_paths(run_dir: str | Path, members: int) -> list[Path]:
    """The weights files of a run's `members` members, member 0 first."""
    return [member_dir(run_dir, k) / MODEL_FILE for k in range(members)]


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
