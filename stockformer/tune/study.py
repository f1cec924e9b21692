"""The study runner: an Optuna study in the study folder's SQLite file (a killed search
resumes where it stopped), a seeded TPE sampler, median pruning on per-epoch validation
RankIC, trials run here or as Ray tasks, outputs rewritten after every trial."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from stockformer.config import Config, load_config
from stockformer.errors import ConfigError, StockformerError
from stockformer.io import write_text
from stockformer.rundir import CONFIG_FILE, SPACE_FILE, STUDY_FILE, absolute_inputs, save_run_config
from stockformer.tune.inputs import build_inputs
from stockformer.tune.objective import ERROR_ATTR, objective
from stockformer.tune.outputs import best_trial, write_outputs
from stockformer.tune.space import SearchSpace

STUDY_NAME = "stockformer-tune"
# settings a resumed study may change: where it runs, not what a trial computes
RESUMABLE_KEYS = {"train.device", "train.num_workers", "train.tensorboard", "train.max_memory_gb"}


@dataclass
class TuneResult:
    study_dir: Path
    trials: int  # in the study, all states
    new_trials: int  # run by this call
    best: FrozenTrial | None
    best_config: Path | None


def storage_url(study_dir: Path) -> str:
    return f"sqlite:///{(Path(study_dir) / STUDY_FILE).resolve()}"


def make_study(study_dir: Path, space: SearchSpace, seed: int) -> optuna.Study:
    """Create or reopen the study. The sampler's seed is the config's seed plus the trials
    already in the study, so a resumed search is reproducible and never repeats the first
    run's random draws."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial comes from us
    study = optuna.create_study(storage=storage_url(study_dir), study_name=STUDY_NAME,
                                direction="maximize", load_if_exists=True)
    study.sampler = optuna.samplers.TPESampler(
        seed=seed + len(study.trials), n_startup_trials=space.sampler.startup_trials)
    study.pruner = optuna.pruners.MedianPruner(
        n_startup_trials=space.pruner.startup_trials, n_warmup_steps=space.pruner.warmup_epochs)
    return study


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _check_same_study(study_dir: Path, cfg: Config, space: SearchSpace) -> None:
    """A resumed study must search the same space from the same base config."""
    stored_space = yaml.safe_load((study_dir / SPACE_FILE).read_text(encoding="utf-8"))
    if stored_space != space.as_dict():
        raise ConfigError(f"{study_dir}: this study searched another space ({study_dir / SPACE_FILE}); "
                          "pass the same --space or start a new --study-dir")
    stored = _flat(load_config(study_dir / CONFIG_FILE).model_dump(mode="json"))
    given = _flat(absolute_inputs(cfg).model_dump(mode="json"))
    changed = [k for k in given if k not in RESUMABLE_KEYS and given[k] != stored.get(k)]
    if changed:
        k = changed[0]
        raise ConfigError(f"{study_dir}: this study started from {k} = {stored.get(k)!r}, now "
                          f"{given[k]!r}; resume with the same config or start a new --study-dir")


def _prepare_dir(study_dir: Path, cfg: Config, space: SearchSpace) -> None:
    study_dir.mkdir(parents=True, exist_ok=True)
    if (study_dir / STUDY_FILE).is_file():
        if (study_dir / SPACE_FILE).is_file() and (study_dir / CONFIG_FILE).is_file():
            _check_same_study(study_dir, cfg, space)
            return
        raise ConfigError(f"{study_dir}: holds {STUDY_FILE} without its {SPACE_FILE} and "
                          f"{CONFIG_FILE}; start a new --study-dir")
    save_run_config(study_dir, cfg)
    write_text(study_dir / SPACE_FILE, yaml.safe_dump(space.as_dict(), sort_keys=False))


def _close_interrupted(study: optuna.Study) -> None:
    """Trials left running by a killed search end as failed, saying so."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        # optuna has no public setter for a trial it did not hand out in this process
        study._storage.set_trial_user_attr(t._trial_id, ERROR_ATTR, "interrupted")
        study.tell(t.number, state=TrialState.FAIL)


def run_tune(
    cfg: Config,
    space: SearchSpace,
    *,
    trials: int,
    study_dir: str | Path,
    ray_address: str | None = None,
    progress: Callable[[FrozenTrial], None] | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> TuneResult:
    """Run the study in `study_dir` up to `trials` trials in all (a resumed study counts the
    ones it already has). `pruner` replaces the median pruner (tests)."""
    study_dir = Path(study_dir)
    _prepare_dir(study_dir, cfg, space)
    study = make_study(study_dir, space, cfg.seed)
    if pruner is not None:
        study.pruner = pruner
    _close_interrupted(study)
    new = max(trials - len(study.trials), 0)

    def after_trial(st: optuna.Study, trial: FrozenTrial) -> None:
        write_outputs(st, cfg, space, study_dir)
        if progress is not None:
            progress(trial)

    if new:
        inputs = build_inputs(cfg)
        if ray_address:
            from stockformer.tune.ray_trials import run_on_ray  # lazy: ray is an optional extra

            run_on_ray(study, storage_url(study_dir), cfg, space, inputs, new, ray_address,
                       after_trial)
        else:
            study.optimize(objective(cfg, space, inputs), n_trials=new,
                           catch=(StockformerError,), callbacks=[after_trial])
    best_config = write_outputs(study, cfg, space, study_dir)
    return TuneResult(study_dir, len(study.trials), new, best_trial(study), best_config)
