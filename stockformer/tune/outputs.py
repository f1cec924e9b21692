"""What a study leaves in its folder after every trial: the trials table and the best config
(both written atomically through stockformer.rundir), so a killed search leaves them current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from stockformer.config import Config
from stockformer.rundir import write_best_config, write_trials
from stockformer.tune.objective import ERROR_ATTR
from stockformer.tune.space import SearchSpace, apply_params


def trial_row(t: FrozenTrial) -> dict[str, Any]:
    """One row of trials.csv: number, state, value, epochs (those reported), seconds, params."""
    return {
        "number": t.number,
        "state": t.state.name.lower(),
        "value": t.value,
        "epochs": len(t.intermediate_values),
        "seconds": t.duration.total_seconds() if t.duration is not None else None,
        **t.params,
        "error": t.user_attrs.get(ERROR_ATTR),
    }


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The finished trial with the highest value (None before one completes)."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None]
    return max(done, key=lambda t: (t.value, -t.number)) if done else None


def write_outputs(study: optuna.Study, base: Config, space: SearchSpace, study_dir: Path) -> Path | None:
    """trials.csv, and best_config.yaml once a trial has completed (its path, else None)."""
    trials = study.get_trials(deepcopy=False)
    write_trials(study_dir, [trial_row(t) for t in trials], space.keys)
    best = best_trial(study)
    if best is None:
        return None
    cfg = apply_params(base, best.params, f"trial {best.number}")
    note = (f"best of {len(trials)} trials in {study_dir}: trial {best.number}, validation "
            f"RankIC {best.value:.6f}\nstockformer train --config <this file>")
    return write_best_config(study_dir, cfg, note)
