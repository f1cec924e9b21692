"""One run directory, read: `load_run` for whatever predicts or backtests with a trained run
(it refuses a broken one in one line naming the file), `open_run` / `list_runs` for the run
browser (a broken run is listed with what is wrong, never raised).

A runs root holds four kinds of folder: a trained run (metrics.json), a `stockformer compare`
folder (comparison.csv, each model's own run under models/), a `stockformer tune` study
(study.db / trials.csv, see tune.py), and outside predictions (`<stamp>-external`: a backtest
or an evaluation of another tool's predictions, no model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from stockformer import io
from stockformer.config import Config
from stockformer.errors import RunError, StockformerError
from stockformer.rundir.files import (
    read_feature_names,
    read_metrics,
    read_symbols,
    weights_hash,
)
from stockformer.rundir.layout import (
    BACKTEST_DIR,
    COMPARISON_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    PREDICTIONS_FILE,
    SIGNAL_FILE,
    SUMMARY_FILE,
    ensemble_size,
    is_external_name,
    member_model_paths,
    safe_child,
    safe_run_path,
)
from stockformer.rundir.stored_config import load_run_config
from stockformer.rundir.tune import is_tune_dir, read_trials, trials_summary
from stockformer.signal.trade_output import TRADE_OUTPUTS

TRAINED, COMPARISON, EXTERNAL, TUNE = "trained", "comparison", "external", "tune"


@dataclass
class RunInfo:
    """A run folder: its config, metrics and backtest summary as read; `error` set means it
    cannot be opened (the run browser says why). A trained run's universe, trade output and
    weights are read on first use (load_run reads them at once)."""

    name: str
    path: Path
    kind: str = TRAINED
    mtime: float = 0.0
    config: Config | None = None
    metrics: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    problems: list[str] = field(default_factory=list)  # missing optional pieces
    trials: pl.DataFrame | None = None  # a tune folder's trials table (rundir.tune)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def is_trained(self) -> bool:
        return self.kind == TRAINED

    @property
    def is_comparison(self) -> bool:
        """A `stockformer compare` folder: a table of models, not a single trained run."""
        return self.kind == COMPARISON

    @property
    def is_tune(self) -> bool:
        """A `stockformer tune` folder: a table of trials, no model of its own."""
        return self.kind == TUNE

    @property
    def is_external(self) -> bool:
        """Outside predictions backtested or evaluated without a run: no model, no metrics.json."""
        return self.kind == EXTERNAL

    @cached_property
    def symbols(self) -> list[str]:
        """The model's universe, in model order."""
        return read_symbols(self.path)

    @cached_property
    def feature_names(self) -> list[str] | None:
        return read_feature_names(self.path)

    @property
    def trade_output(self) -> str:
        found = (self.metrics or {}).get("trade_output", "regression")
        if found not in TRADE_OUTPUTS:
            raise RunError(f"{self.path / METRICS_FILE}: trade_output {found!r} is not one of "
                           f"{', '.join(TRADE_OUTPUTS)}")
        return found

    @cached_property
    def models(self) -> list[Path]:
        """Member weights, member 0 (model.pt) first; RunError naming a missing one."""
        if self.config is None:
            raise RunError(f"{self.path / CONFIG_FILE}: missing (the run's configuration)")
        paths = member_model_paths(self.path, ensemble_size(self.config))
        for path in paths:
            if not path.is_file():
                raise RunError(f"{path}: missing (the trained weights)")
        return paths

    @cached_property
    def model_hash(self) -> str:
        """sha256 of model.pt (an ensemble: of its members' sha256s, in order)."""
        return weights_hash(self.models)


def mtime_of(path: Path) -> float:
    """Modification time used as a cache key (0.0 when the file is missing)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def run_kind(path: Path) -> str:
    """trained, comparison, tune or external, from what the folder holds and how it is named;
    a folder with none of the marks is a trained run that is unfinished or failed."""
    if (path / METRICS_FILE).is_file():
        return TRAINED
    if (path / COMPARISON_FILE).is_file():
        return COMPARISON
    if is_tune_dir(path):
        return TUNE
    return EXTERNAL if is_external_name(path.name) else TRAINED


def load_run(path: str | Path) -> RunInfo:
    """A trained run to predict or backtest with: config.yaml (input paths absolute, whatever
    the current folder), symbols.json, feature_names.json, metrics.json (trade output) and the
    weights, each checked now; RunError (one line naming the file) on the first problem."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: run directory not found")
    info = RunInfo(path.resolve().name, path, TRAINED, mtime_of(path), load_run_config(path))
    _ = info.symbols, info.feature_names  # read now: a broken run fails before any work
    info.metrics = read_metrics(path)
    _ = info.trade_output, info.model_hash
    return info


def open_run(root: Path, name: str) -> RunInfo:
    """Config, metrics and backtest summary of runs_root/name for the run browser; a broken
    run comes back with `error` set, never raised (RunError only for a name outside the root)."""
    path = safe_run_path(root, name)
    info = RunInfo(name, path, run_kind(path), mtime_of(path))
    try:
        _read(info)
    except RunError as err:
        info.error = str(err)
        if not info.is_external:
            return info
    try:
        info.summary = _read_dict(safe_child(path, SUMMARY_FILE))
    except RunError as err:
        if info.ok:
            info.problems.append(str(err))
    return info


def _read_dict(path: Path) -> dict[str, Any]:
    return io.read_json(path, RunError, "missing", dict)


def _read(info: RunInfo) -> None:
    """Fill config and metrics; RunError saying why the run cannot be opened."""
    name, path = info.name, info.path
    cfg_path = safe_child(path, CONFIG_FILE)
    if cfg_path.is_file() or not info.is_external:  # `evaluate` leaves no config.yaml
        if not cfg_path.is_file():
            raise RunError(f"{name}/{CONFIG_FILE}: missing (not a finished run directory)")
        try:
            info.config = load_run_config(path)  # data.path found from any folder
        except StockformerError as err:
            raise RunError(f"{name}/{CONFIG_FILE}: {err}") from None
    if info.is_comparison:
        raise RunError(f"{name}: a `stockformer compare` folder; its table is on the Signal "
                       f"quality page, each model's own run is under {name}/models/")
    if info.is_external:
        raise RunError(f"{name}: outside predictions, no trained model to show; "
                       f"{_external_report(path)}")
    if info.is_tune:  # not a model to open: `error` keeps it off the run pickers
        info.trials = read_trials(path)
        raise RunError(f"{name}: a `stockformer tune` study, {trials_summary(info.trials)}; "
                       "the trials table is on the Runs page")
    metrics_path = safe_child(path, METRICS_FILE)
    if not metrics_path.is_file():
        raise RunError(f"{name}/{METRICS_FILE}: missing (training still running, or it failed)")
    info.metrics = _read_dict(metrics_path)
    for split in ("test", "validation"):
        if not isinstance(info.metrics.get(split), dict):
            raise RunError(f"{name}/{METRICS_FILE}: no {split!r} section (training not finished?)")


def _external_report(path: Path) -> str:
    if (path / BACKTEST_DIR / "report.html").is_file():
        return f"its backtest report is {path.name}/{BACKTEST_DIR}/report.html"
    if (path / SIGNAL_FILE).is_file():
        return f"its signal metrics are in {path.name}/{SIGNAL_FILE}"
    return "nothing written yet"


def list_runs(root: Path) -> list[RunInfo]:
    """Every visible sub-folder of the runs root, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    infos = []
    for child in root.iterdir():
        if child.name.startswith(".") or not child.is_dir():
            continue
        try:
            infos.append(open_run(root, child.name))
        except RunError:
            continue  # a symlink leading outside the root is not ours to show
    return sorted(infos, key=lambda i: (-i.mtime, i.name))


def latest_run(runs_dir: str | Path) -> Path:
    """The most recently finished training run under runs_dir: the newest folder holding
    predictions.parquet (compare folders and runs still training are skipped)."""
    root = Path(runs_dir)
    runs = [p for p in root.iterdir() if (p / PREDICTIONS_FILE).is_file()] if root.is_dir() else []
    if not runs:
        raise RunError(f"{root}: no finished run (one with predictions.parquet): train a model first")
    return max(runs, key=lambda p: (p / PREDICTIONS_FILE).stat().st_mtime)


def run_warnings(run: RunInfo | str | Path) -> list[str]:
    """The run's metrics.json "warnings" (e.g. a collapsed score), from a RunInfo or read from
    a run directory; none for older runs, or when metrics.json is absent or unreadable."""
    if isinstance(run, RunInfo):
        metrics = run.metrics or {}
    else:
        try:
            metrics = _read_dict(Path(run) / METRICS_FILE)
        except RunError:  # a report without the training run's warnings is still a report
            return []
    found = metrics.get("warnings")
    return [str(w) for w in found] if isinstance(found, list) else []
