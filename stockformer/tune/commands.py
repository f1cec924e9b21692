"""`stockformer tune`: hyper-parameter search on the validation period (stockformer/tune/)."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from stockformer.errors import RunError
from stockformer.pipeline_commands import resolve_config
from stockformer.rundir import BEST_CONFIG_FILE, TRIALS_FILE, new_run_dir, read_trials
from stockformer.train.progress import set_quiet

console = Console()


def _trial_line(trial) -> str:
    value = "" if trial.value is None else f" validation RankIC {trial.value:.4f}"
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in trial.params.items())
    seconds = trial.duration.total_seconds() if trial.duration is not None else math.nan
    why = trial.user_attrs.get("error")
    return (f"trial {trial.number}: {trial.state.name.lower()}{value} "
            f"({len(trial.intermediate_values)} epochs, {seconds:.1f}s) {params}"
            + (f" | {why}" if why else ""))


def _top_table(result, keys: list[str], top: int = 10) -> Table:
    frame = read_trials(result.study_dir)
    done = frame.filter(pl.col("state") == "complete").sort("value", descending=True).head(top)
    table = Table(title=f"best trials ({result.study_dir / TRIALS_FILE})")
    for col in ("number", "value", "epochs", *keys):
        table.add_column(col, justify="right")
    for row in done.iter_rows(named=True):
        table.add_row(*(f"{row[c]:.4g}" if isinstance(row.get(c), float) else str(row.get(c))
                        for c in ("number", "value", "epochs", *keys)))
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def tune(
        config: Path = typer.Option(None, "--config", "-c", help="base YAML config (default: built-in)"),
        space: Path = typer.Option(..., "--space", help="search space YAML (see configs/tune_space.yaml)"),
        trials: int = typer.Option(20, "--trials", min=1,
                                   help="trials in the study in all; a resumed study counts its own"),
        study_dir: Path = typer.Option(
            None, "--study-dir", help="the study folder; an existing one resumes "
            "(default runs/<stamp>-<name>-tune)"),
        ray: str = typer.Option(None, "--ray", help="run trials as Ray tasks: auto, local or host:port"),
        data: str = typer.Option(None, "--data", help="dataset directory or panel file (overrides data.path)"),
        device: str = typer.Option(None, "--device", help="auto | cpu | cuda (overrides train.device)"),
        sets: list[str] = typer.Option(None, "--set", help="override a base config key (repeatable)"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no per-epoch progress lines on stderr"),
    ) -> None:
        """Search training hyper-parameters (Optuna TPE, median pruning) scored on validation
        RankIC; the test period is never read. Writes trials.csv and best_config.yaml."""
        set_quiet(quiet)
        from stockformer.tune import load_space, run_tune  # lazy: keeps --help fast

        cfg = resolve_config(config, data, device, sets)
        search = load_space(space, cfg)
        if study_dir is None:
            study_dir = new_run_dir(cfg.model_copy(update={"name": f"{cfg.name}-tune"}))
        result = run_tune(cfg, search, trials=trials, study_dir=study_dir, ray_address=ray,
                          progress=lambda t: console.print(_trial_line(t), highlight=False,
                                                           soft_wrap=True))
        if result.new_trials == 0:
            console.print(f"{study_dir}: the study already has {result.trials} trials "
                          f"(--trials {trials}); nothing to run")
        if result.best is not None:
            console.print(_top_table(result, search.keys))
            console.print(f"best: trial {result.best.number}, validation RankIC "
                          f"{result.best.value:.4f} -> {result.best_config}")
            console.print(f"train it: stockformer train --config {study_dir / BEST_CONFIG_FILE}")
            console.print(f"wrote {study_dir}")
        else:
            raise RunError(f"{study_dir}: no trial completed ({result.trials} in the study); "
                           f"see {study_dir / TRIALS_FILE}")
