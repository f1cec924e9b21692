"""`stockformer tune`: a hyper-parameter search with Optuna, scored on validation only.

- space.py: the search space (YAML), checked against the config before any training;
- inputs.py: features, graph and dates built once per study, from training and validation days;
- objective.py: one trial (fit, per-epoch validation RankIC reported for median pruning);
- study.py: the study (SQLite in the study folder, resumable; seeded TPE; median pruner);
- ray_trials.py: trials as Ray tasks (`--ray ADDRESS`);
- outputs.py: trials.csv and best_config.yaml after every trial (files named in rundir.tune).
"""

from stockformer.tune.space import SearchSpace, load_space, parse_space
from stockformer.tune.study import TuneResult, run_tune

__all__ = ["SearchSpace", "TuneResult", "load_space", "parse_space", "run_tune"]
