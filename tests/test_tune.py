"""`stockformer tune`: the search space is checked in one line, trials report each epoch and
can be pruned, a study resumes from its SQLite file, the best config loads as a config, the
test period never reaches a trial, and the Ray path gives the local path's trials.

Tiny on purpose (20 stocks x 200 days, one small layer, 2 epochs, 1-3 trials per study).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import optuna
import polars as pl
import pytest
import yaml

from stockformer.cli import main
from stockformer.config import Config, config_from_dict, load_config
from stockformer.data.store import load_panel, save_dataset
from stockformer.data.synthetic import generate_market
from stockformer.errors import ConfigError
from stockformer.factors.labels import label_lag
from stockformer.rundir import BEST_CONFIG_FILE, TRIALS_FILE, open_run, read_trials
from stockformer.train.splits import make_splits
from stockformer.tune import load_space, parse_space, run_tune
from stockformer.tune.study import STUDY_NAME, _close_interrupted, make_study, storage_url

ROOT = Path(__file__).resolve().parents[1]
SPACE = {
    "params": {
        "train.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "model.dropout": {"type": "float", "low": 0.0, "high": 0.3},
    },
}


def tiny_config(data: Path, cache: Path) -> Config:
    return config_from_dict({
        "name": "tiny", "seed": 0,
        "data": {"path": str(data)},
        "features": {"window": 10, "cache_dir": str(cache), "min_history": 20},
        "graph": {"embedding": "spectral", "dim": 8, "top_k": 8},
        "model": {"t1": 8, "t2": 2, "d_model": 16, "layers": 1, "heads": 2, "dropout": 0.0},
        "train": {"device": "cpu", "epochs": 2, "batch_size": 16, "early_stopping": None},
    })


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Every trial here, local or in a Ray worker (num_cpus=1), trains on one torch thread, so
    the Ray trials can be compared with the local ones exactly."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tune")


@pytest.fixture(scope="module")
def market(root) -> Path:
    return save_dataset(generate_market(stocks=20, days=200, seed=11), root / "data")


@pytest.fixture(scope="module")
def base(root, market) -> Config:
    return tiny_config(market, root / "cache")


@pytest.fixture(scope="module")
def space(base):
    return parse_space(SPACE, base)


@pytest.fixture(scope="module")
def first(root, base, space) -> dict:
    """A 2-trial study; its outputs as they stood after those two trials."""
    out = root / "study"
    result = run_tune(base, space, trials=2, study_dir=out)
    return {"dir": out, "result": result, "table": read_trials(out),
            "best": (out / BEST_CONFIG_FILE).read_text()}


def periods(base: Config, panel: pl.DataFrame) -> tuple:
    """(first validation day, last validation day) of the split a study uses."""
    dates = panel["date"].unique().sort()
    split = make_splits(dates.to_numpy().astype("datetime64[D]"), base.split, t1=base.model.t1,
                        t2=base.model.t2, label_lag=label_lag(base.features.label_horizon))[0]
    return dates[int(split.val.min())], dates[int(split.test.min()) - 1]


def scrambled(panel: pl.DataFrame, start, end, seed: int) -> pl.DataFrame:
    """Rows dated in [start, end] get every price scaled by a random factor (a valid panel
    whose returns and labels on those days are noise)."""
    rng = np.random.default_rng(seed)
    inside = (pl.col("date") >= start) & (pl.col("date") <= end)
    factor = pl.Series("f", rng.uniform(0.5, 2.0, panel.height))
    prices = ["open", "high", "low", "close"]
    return panel.with_columns(factor).with_columns(
        [pl.when(inside).then(pl.col(c) * pl.col("f")).otherwise(pl.col(c)).alias(c) for c in prices]
    ).drop("f")


def same_search(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    cols = ["number", "state", "value", "epochs", "train.lr", "model.dropout"]
    return a.select(cols).equals(b.select(cols))


# -- the search space -----------------------------------------------------------------------
BAD_SPACES = {
    "unknown key": ({"train.lrr": {"type": "float", "low": 0.1, "high": 0.2}}, "unknown key train.lrr (did you mean train.lr?)"),
    "a section": ({"train": {"type": "float", "low": 0.1, "high": 0.2}}, "train is a section"),
    "feature key": ({"features.window": {"type": "int", "low": 5, "high": 20}}, "built once per study"),
    "graph key": ({"graph.dim": {"type": "int", "low": 4, "high": 8}}, "built once per study"),
    "not training": ({"backtest.topk": {"type": "int", "low": 3, "high": 8}}, "does not change training"),
    "not a hyper-parameter": ({"train.device": {"type": "categorical", "choices": ["cpu"]}}, "train.device cannot be searched"),
    "low above high": ({"train.lr": {"type": "float", "low": 0.1, "high": 0.01}}, "low (0.1) must be below high (0.01)"),
    "log from zero": ({"train.lr": {"type": "float", "low": 0.0, "high": 0.01, "log": True}}, "log scale needs low > 0"),
    "int not whole": ({"model.layers": {"type": "int", "low": 1.5, "high": 3}}, "int needs a whole `low`"),
    "no choices": ({"train.loss": {"type": "categorical", "choices": []}}, "non-empty `choices`"),
    "unknown type": ({"train.lr": {"type": "normal", "low": 0.1, "high": 0.2}}, "params.train.lr.type"),
    "unknown field": ({"train.lr": {"type": "float", "lo": 0.1, "high": 0.2}}, "params.train.lr.lo: unknown key"),
    "outside the config's range": ({"model.dropout": {"type": "float", "low": 0.1, "high": 1.5}}, "model.dropout"),
    "a choice the config refuses": ({"train.loss": {"type": "categorical", "choices": ["mse", "hinge"]}}, "'hinge'"),
}


@pytest.mark.parametrize("case", list(BAD_SPACES))
def test_a_bad_space_is_one_clear_line(case, base):
    params, expected = BAD_SPACES[case]
    with pytest.raises(ConfigError) as err:
        parse_space({"params": params}, base, "space.yaml")
    message = str(err.value)
    assert "\n" not in message and message.startswith("space.yaml: "), message
    assert expected in message, message


def test_the_order_of_keys_in_a_space_file_does_not_matter(base):
    """A resumed study must draw the same keys in the same order whatever order the file
    lists them in (yaml.safe_dump sorts them, an editor may not)."""
    flipped = {"params": dict(reversed(list(SPACE["params"].items())))}
    assert parse_space(SPACE, base).keys == parse_space(flipped, base).keys == sorted(SPACE["params"])


def test_the_shipped_space_fits_the_default_config():
    space = load_space(ROOT / "configs" / "tune_space.yaml", load_config(ROOT / "configs" / "default.yaml"))
    assert "train.lr" in space.keys and space.params["train.lr"].log


def test_the_shipped_recipe_space_holds_the_default_and_the_papers_recipe():
    """configs/tune_recipe.yaml searches the choices that differ between the project's default
    recipe and the paper's: both configs' own values are points of the space."""
    for name in ("default.yaml", "paper.yaml"):
        cfg = load_config(ROOT / "configs" / name)
        space = load_space(ROOT / "configs" / "tune_recipe.yaml", cfg)
        for key, spec in space.params.items():
            section, field = key.split(".")
            assert getattr(getattr(cfg, section), field) in spec.choices, (name, key)


def test_the_study_is_tpe_seeded_with_median_pruning(tmp_path, base, space):
    study = make_study(tmp_path, space, seed=base.seed)
    assert isinstance(study.sampler, optuna.samplers.TPESampler)
    assert isinstance(study.pruner, optuna.pruners.MedianPruner)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert storage_url(tmp_path).endswith(f"{tmp_path}/study.db")
    # seeded: two fresh studies draw the same first point
    (tmp_path / "b").mkdir()
    other = make_study(tmp_path / "b", space, seed=base.seed)
    assert study.ask().suggest_float("x", 0, 1) == other.ask().suggest_float("x", 0, 1)


def test_cli_refuses_a_bad_space_in_one_line(tmp_path, base, capsys):
    (tmp_path / "c.yaml").write_text(base.to_yaml())
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"params": {"features.window": {
        "type": "int", "low": 5, "high": 20}}}))
    code = main(["tune", "-c", str(tmp_path / "c.yaml"), "--space", str(tmp_path / "s.yaml"),
                 "--study-dir", str(tmp_path / "study")])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "features.window" in lines[0]
    assert not (tmp_path / "study").exists()


# -- a study --------------------------------------------------------------------------------
def test_trials_report_every_epoch_and_score_the_kept_epoch(first):
    table, result = first["table"], first["result"]
    assert table["state"].to_list() == ["complete", "complete"]
    assert table["epochs"].to_list() == [2, 2]  # each epoch reported
    assert table["seconds"].min() > 0
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(first["dir"]))
    for t in study.trials:  # select_metric rank_ic: the kept epoch is the best reported one
        assert t.value == max(t.intermediate_values.values())
    assert result.best.number == int(table.sort("value", descending=True)["number"][0])
    assert table["train.lr"].n_unique() == 2  # the sampler moved


def test_best_config_is_a_ready_config(first, base):
    cfg = load_config(first["dir"] / BEST_CONFIG_FILE)
    best = first["result"].best
    assert cfg.train.lr == best.params["train.lr"]
    assert cfg.model.dropout == best.params["model.dropout"]
    assert cfg.model.d_model == base.model.d_model and cfg.train.epochs == base.train.epochs
    assert Path(cfg.data.path).is_absolute()  # usable from any folder
    assert f"trial {best.number}" in first["best"].splitlines()[0]


def test_a_resumed_study_runs_only_the_missing_trials(first, tmp_path, base, capsys):
    study = tmp_path / "study"
    shutil.copytree(first["dir"], study)
    (tmp_path / "c.yaml").write_text(base.to_yaml())
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(SPACE))
    argv = ["tune", "-c", str(tmp_path / "c.yaml"), "--space", str(tmp_path / "s.yaml"),
            "--study-dir", str(study), "-q"]
    assert main([*argv, "--trials", "3"]) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"^trial \d+: ", out, re.M)) == 1, out  # one new trial ran
    table = read_trials(study)
    assert table["number"].to_list() == [0, 1, 2]
    assert table.head(2).equals(first["table"])  # the first two are untouched
    assert main([*argv, "--trials", "3"]) == 0  # complete: nothing to run
    assert "nothing to run" in capsys.readouterr().out
    assert read_trials(study).height == 3
    # the study folder is a tune run in the run browser, its table read through rundir
    info = open_run(tmp_path, "study")
    assert info.kind == "tune" and info.is_tune and not info.ok
    assert info.trials.height == 3 and "3 trials (3 complete)" in info.error


def test_resuming_with_another_space_is_refused(first, tmp_path, base, space):
    study = tmp_path / "study"
    shutil.copytree(first["dir"], study)
    other = parse_space({"params": {"train.lr": SPACE["params"]["train.lr"]}}, base)
    with pytest.raises(ConfigError, match="searched another space"):
        run_tune(base, other, trials=3, study_dir=study)
    changed = base.model_copy(update={"seed": 5})
    with pytest.raises(ConfigError, match="seed = 0"):
        run_tune(changed, space, trials=3, study_dir=study)


def test_the_test_period_changes_nothing(first, root, base, space, market):
    panel = load_panel(market)
    val_start, val_end = periods(base, panel)
    dates = panel["date"].unique().sort()
    test_start = dates.filter(dates > val_end)[0]
    after = scrambled(panel, test_start, dates[-1], seed=3)
    assert not after.equals(panel)  # the test period really differs
    assert after.filter(pl.col("date") <= val_end).equals(panel.filter(pl.col("date") <= val_end))
    data = save_dataset(after, root / "data_test_scrambled")
    cfg = base.model_copy(update={"data": base.data.model_copy(update={"path": str(data)})})
    out = root / "study_test_scrambled"
    result = run_tune(cfg, space, trials=2, study_dir=out)
    assert same_search(read_trials(out), first["table"])
    assert result.best.params == first["result"].best.params
    assert result.best.value == first["result"].best.value


def test_control_the_validation_period_does_change_the_search(first, root, base, space, market):
    """The check above can fail: scrambling validation days changes the first trial's score."""
    panel = load_panel(market)
    val_start, val_end = periods(base, panel)
    data = save_dataset(scrambled(panel, val_start, val_end, seed=3), root / "data_val_scrambled")
    cfg = base.model_copy(update={"data": base.data.model_copy(update={"path": str(data)})})
    out = root / "study_val_scrambled"
    run_tune(cfg, space, trials=1, study_dir=out)
    row = read_trials(out).row(0, named=True)
    assert row["train.lr"] == first["table"]["train.lr"][0]  # same point, different score
    assert row["value"] != first["table"]["value"][0]


def test_a_pruned_trial_stops_after_the_epoch_it_reported(tmp_path, base, space):
    # a pruner that stops any trial whose RankIC is below 1 (every one): the hook must end
    # training after the first epoch and the trial must be recorded as pruned
    result = run_tune(base, space, trials=2, study_dir=tmp_path / "study",
                      pruner=optuna.pruners.ThresholdPruner(lower=1.0))
    table = read_trials(tmp_path / "study")
    assert table["state"].to_list() == ["pruned", "pruned"]
    assert table["epochs"].to_list() == [1, 1]  # of 2 configured
    assert result.best is None and not (tmp_path / "study" / BEST_CONFIG_FILE).exists()
    assert (tmp_path / "study" / TRIALS_FILE).is_file()


def test_a_trial_left_running_by_a_killed_search_ends_as_failed(tmp_path, space):
    study = make_study(tmp_path, space, seed=0)
    study.ask()  # what a killed search leaves: a trial still marked running
    _close_interrupted(make_study(tmp_path, space, seed=0))
    (trial,) = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(tmp_path)).trials
    assert trial.state == optuna.trial.TrialState.FAIL
    assert trial.user_attrs["error"] == "interrupted"


# -- Ray ------------------------------------------------------------------------------------
def test_ray_trials_match_the_local_ones(first, tmp_path, base, space):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = run_tune(base, space, trials=2, study_dir=tmp_path / "study", ray_address="local")
    finally:
        ray.shutdown()
    assert same_search(read_trials(tmp_path / "study"), first["table"])
    assert result.best.params == first["result"].best.params
