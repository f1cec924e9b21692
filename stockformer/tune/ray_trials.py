"""Trials as Ray tasks (`stockformer tune --ray ADDRESS`), through stockformer.distributed.

This process keeps the study: it asks for as many trials as the cluster has CPUs, runs them as
Ray tasks, tells each result as it arrives and asks for the next batch (so TPE learns from
every finished batch). A task reports each epoch to a small actor pinned to this node, which
opens the same SQLite study and answers whether to prune, so median pruning works as in a
local search. The study file lives here: run the search on a node of the cluster (the head,
`--ray auto`), not through a Ray client (`ray://`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from stockformer.config import Config
from stockformer.distributed import Executor, Task, connect, error_line, run_tasks
from stockformer.errors import ConfigError, StockformerError
from stockformer.tune.inputs import StudyInputs
from stockformer.tune.objective import ERROR_ATTR, train_trial, trial_config
from stockformer.tune.space import SearchSpace


class PruningActor:
    """Per-epoch reports of Ray trials, written to the study and answered with the pruner's
    verdict (runs on the driver's node, where the study's SQLite file is)."""

    def __init__(self, storage: str, study_name: str, pruner: optuna.pruners.BasePruner):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)

    def report(self, trial_id: int, value: float, step: int) -> bool:
        trial = optuna.Trial(self.study, trial_id)
        trial.report(value, step)
        return trial.should_prune()


class _ActorReporter:
    """The Reporter a Ray trial trains with: each report is answered by the PruningActor."""

    def __init__(self, actor, trial_id: int):
        self.actor, self.trial_id, self.prune = actor, trial_id, False

    def report(self, value: float, step: int) -> None:
        import ray  # lazy: runs inside a Ray worker only

        self.prune = ray.get(self.actor.report.remote(self.trial_id, value, step))

    def should_prune(self) -> bool:
        return self.prune


def ray_trial(cfg_yaml: str, inputs: StudyInputs, actor, trial_id: int, number: int,
              threads: int) -> tuple:
    """One trial in a Ray worker: ("complete", value), ("pruned", None) or ("fail", why).
    `threads`: the driver's torch threads; Ray gives a 1-CPU task one thread, and a different
    thread count changes float reductions, so a trial would not score what it scores locally."""
    import yaml

    from stockformer.config import config_from_dict  # lazy: in a worker process

    torch.set_num_threads(threads)
    cfg = config_from_dict(yaml.safe_load(cfg_yaml), f"trial {number}")
    try:
        return "complete", train_trial(cfg, inputs, _ActorReporter(actor, trial_id), f"trial {number}")
    except optuna.TrialPruned:
        return "pruned", None
    except StockformerError as err:
        return "fail", str(err)


def _tell(study: optuna.Study, trial: optuna.Trial, outcome: tuple) -> FrozenTrial:
    status, payload = outcome
    if status == "complete":
        return study.tell(trial, payload)
    if status == "fail":
        trial.set_user_attr(ERROR_ATTR, payload)
    return study.tell(trial, state=TrialState.PRUNED if status == "pruned" else TrialState.FAIL)


def run_on_ray(study: optuna.Study, storage: str, base: Config, space: SearchSpace,
               inputs: StudyInputs, n_new: int, address: str,
               after_trial: Callable[[optuna.Study, FrozenTrial], None]) -> None:
    """Run `n_new` trials of `study` (kept in `storage`, a SQLite URL) as Ray tasks, batch by batch."""
    if address.startswith("ray://"):
        raise ConfigError(f"--ray {address}: the study's SQLite file must be reachable from the "
                          "cluster; run tune on a cluster node with --ray auto")
    ray, started = connect(address)
    try:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        actor = ray.remote(num_cpus=0)(PruningActor).options(scheduling_strategy=here).remote(
            storage, study.study_name, study.pruner)
        shared = ray.put(inputs)  # one copy in the object store; Ray resolves it for each task
        batch = max(int(ray.cluster_resources().get("CPU", 1)), 1)
        left = n_new
        while left:
            asked = [study.ask() for _ in range(min(batch, left))]
            left -= len(asked)
            _run_batch(study, base, space, asked, shared, actor, address, after_trial)
    finally:
        if started:
            ray.shutdown()


def _run_batch(study, base, space, asked: list[optuna.Trial], shared, actor, address: str,
               after_trial) -> None:
    tasks, told = [], set()
    for trial in asked:
        try:
            cfg = trial_config(base, space.suggest(trial), trial.number)
        except StockformerError as err:  # a refused combination fails here, like a local trial
            after_trial(study, _tell(study, trial, ("fail", str(err))))
            told.add(trial.number)
            continue
        # the actor addresses the trial by its storage id (optuna keeps it private)
        tasks.append((trial, Task(f"trial {trial.number}", ray_trial,
                                  (cfg.to_yaml(), shared, actor, trial._trial_id, trial.number,
                                   torch.get_num_threads()))))

    def on_done(i: int, outcome: Any) -> None:
        trial = tasks[i][0]
        after_trial(study, _tell(study, trial, outcome))
        told.add(trial.number)

    try:
        run_tasks([t for _, t in tasks], on_done, Executor(ray=address))
    except Exception as err:  # a task crashed (a bug, a lost node): its trial fails, the search stops
        for trial, _ in tasks:
            if trial.number not in told:
                after_trial(study, _tell(study, trial, ("fail", error_line(err))))
        raise
