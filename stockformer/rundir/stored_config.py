"""A run's stored config.yaml, readable from any folder.

A config's input paths (data.path, backtest.benchmark) are relative to the folder a command
was started in. A run directory outlives that folder: the dashboard, the daily job and
`backtest --run` may be started anywhere. So the stored copy holds them absolute, and an
older run that stored them relative is read relative to the folders it was trained under.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stockformer.config import Config, load_config
from stockformer.io import write_text
from stockformer.rundir.layout import CONFIG_FILE


def _input_paths(cfg: Config) -> dict[str, str | None]:
    """Dotted key -> value of every setting a run reads an input file from."""
    return {"data.path": cfg.data.path, "backtest.benchmark": cfg.backtest.benchmark}


def _with_paths(cfg: Config, paths: dict[str, str]) -> Config:
    data = cfg.data.model_copy(update={"path": paths.get("data.path", cfg.data.path)})
    bench = paths.get("backtest.benchmark", cfg.backtest.benchmark)
    backtest = cfg.backtest.model_copy(update={"benchmark": bench})
    return cfg.model_copy(update={"data": data, "backtest": backtest})


def absolute_inputs(cfg: Config, base: Path | None = None) -> Config:
    """`cfg` with its relative input paths made absolute against `base` (default: cwd)."""
    base = Path.cwd() if base is None else Path(base)
    resolved = {key: str((base / Path(value).expanduser()).resolve())
                for key, value in _input_paths(cfg).items() if value}
    return _with_paths(cfg, resolved)


def save_run_config(run_dir: str | Path, cfg: Config) -> Config:
    """Write run_dir/config.yaml with absolute input paths; returns the config written."""
    stored = absolute_inputs(cfg)
    write_text(Path(run_dir) / CONFIG_FILE, stored.to_yaml())
    return stored


def _locate(value: str, run_dir: Path) -> str:
    """An older run's relative path: the training folder is unknown, but it is usually the
    one holding the runs folder (`runs/<id>`), so the run's own ancestors are tried first
    (nearest first), then the current folder; unfound, it stays relative to the current one."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return value
    for base in (*run_dir.resolve().parents, Path.cwd()):
        if (base / path).exists():
            return str((base / path).resolve())
    return str((Path.cwd() / path).resolve())


def load_run_config(run_dir: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """run_dir/config.yaml (+ dotted overrides) with every input path absolute and, for older
    runs that stored relative ones, found wherever they were trained from.
    Overridden paths are the caller's, relative to the current folder."""
    run_dir = Path(run_dir)
    cfg = load_config(run_dir / CONFIG_FILE, overrides)
    given = set(overrides or {})
    stored = {key: _locate(value, run_dir) for key, value in _input_paths(cfg).items()
              if value and key not in given}
    return absolute_inputs(_with_paths(cfg, stored))
