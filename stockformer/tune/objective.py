"""One trial: fit the trial's config on the study's inputs and score it on validation.

The score is the validation RankIC (mean daily rank IC of the trained score) of the epoch the
trainer keeps (train.select_metric picks it, as in `stockformer train`). Each epoch's
validation RankIC is reported to the study as it comes, and a trial the pruner stops ends
there. Every trial uses the base config's seed, so trials differ only by their parameters.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import optuna

from stockformer.config import Config
from stockformer.errors import RunError, StockformerError
from stockformer.train.device import resolve_device
from stockformer.train.memory import check_memory
from stockformer.train.trainer import fit
from stockformer.tune.inputs import StudyInputs, trial_split
from stockformer.tune.space import SearchSpace, apply_params

ERROR_ATTR = "error"  # the user attribute holding why a trial failed (the trials table shows it)


class Reporter(Protocol):
    """What a trial needs from Optuna while it trains: optuna.Trial itself, or a proxy to it
    from a Ray task (tune/ray_trials.py)."""

    def report(self, value: float, step: int) -> None: ...

    def should_prune(self) -> bool: ...


def _prune_hook(reporter: Reporter):
    def on_epoch(row: dict[str, float]) -> None:
        reporter.report(float(row["val_rank_ic"]), int(row["epoch"]))
        if reporter.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {int(row['epoch']) + 1}")
    return on_epoch


def train_trial(cfg: Config, inputs: StudyInputs, reporter: Reporter, label: str) -> float:
    """Fit one trial's config and return its score. optuna.TrialPruned when the pruner stops
    it; StockformerError for a refused config or a score that is not a number."""
    fs = inputs.fs
    check_memory(cfg.model, len(fs.symbols), len(fs.feature_names), cfg.train.batch_size,
                 limit_gb=cfg.train.max_memory_gb, device=resolve_device(cfg.train.device).type)
    result = fit(fs, trial_split(inputs, cfg), inputs.graph, cfg.model, cfg.train, seed=cfg.seed,
                 label=label, on_epoch=_prune_hook(reporter))
    kept = [r for r in result.history if int(r["epoch"]) == result.best_epoch]
    value = float(kept[0]["val_rank_ic"]) if kept else math.nan
    if not math.isfinite(value):
        raise RunError("no validation RankIC (constant predictions, or no validation days)")
    return value


def trial_config(base: Config, params: dict[str, Any], number: int) -> Config:
    return apply_params(base, params, f"trial {number}")


def objective(base: Config, space: SearchSpace, inputs: StudyInputs):
    """The local objective: a refused or broken config fails its trial (with the reason
    kept on the trial) and the search goes on."""
    def run(trial: optuna.Trial) -> float:
        params = space.suggest(trial)
        try:
            cfg = trial_config(base, params, trial.number)
            return train_trial(cfg, inputs, trial, f"trial {trial.number}")
        except StockformerError as err:
            trial.set_user_attr(ERROR_ATTR, str(err))
            raise
    return run
