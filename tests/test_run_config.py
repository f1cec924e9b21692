"""Runs work from any folder: a run's stored config names its inputs absolutely, and an older
run that stored them relative to where it was trained is still found (issue 15, item 11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from dashboard_fixtures import write_run
from streamlit.testing.v1 import AppTest

from stockformer.config import config_from_dict
from stockformer.rundir import absolute_inputs, load_run_config, save_run_config
from stockformer.rundir import open_run as dashboard_load_run

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def stored(run: Path) -> dict:
    return yaml.safe_load((run / "config.yaml").read_text())


def test_saved_config_holds_absolute_input_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config_from_dict({"data": {"path": "data/synth"}, "backtest": {"benchmark": "idx.csv"},
                            "runs_dir": "runs"})
    save_run_config(tmp_path / "runs" / "r", cfg)
    raw = stored(tmp_path / "runs" / "r")
    assert raw["data"]["path"] == str(tmp_path / "data" / "synth")
    assert raw["backtest"]["benchmark"] == str(tmp_path / "idx.csv")
    assert raw["runs_dir"] == "runs"  # an output location, not an input: left as configured
    assert cfg.data.path == "data/synth"  # the caller's config is not changed


@pytest.mark.slow  # one tiny training run (~15 s)
def test_trained_run_is_read_from_another_folder(tmp_path, monkeypatch):
    from stockformer.data.store import save_dataset
    from stockformer.data.synthetic import generate_market
    from stockformer.rundir import load_run as job_load_run
    from stockformer.train.run import train_run

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    elsewhere.mkdir()
    save_dataset(generate_market(stocks=12, days=160, seed=5), project / "data")
    monkeypatch.chdir(project)
    cfg = config_from_dict({
        "name": "anyfolder", "seed": 0, "data": {"path": "data"},
        "features": {"window": 10, "cache_dir": None, "min_history": 20},
        "graph": {"embedding": "spectral", "dim": 4, "top_k": 4},
        "model": {"t1": 8, "t2": 2, "d_model": 8, "layers": 1, "heads": 2, "dropout": 0.0},
        "train": {"device": "cpu", "epochs": 1, "batch_size": 16},
        "backtest": {"topk": 3, "n_drop": 1},
    })
    run = train_run(cfg, run_dir=Path("runs") / "r")
    monkeypatch.chdir(elsewhere)
    run = project / run
    data = str((project / "data").resolve())
    assert stored(run)["data"]["path"] == data
    assert json.loads((run / "metrics.json").read_text())["data"]["path"] == data
    assert job_load_run(run).config.data.path == data
    assert dashboard_load_run(project / "runs", "r").config.data.path == data


@pytest.fixture
def old_run(tmp_path, monkeypatch) -> Path:
    """A run written before the fix: data.path relative to the project it was trained in."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    run = write_run(Path("runs"), "old", data_dir=Path("data") / "panel")
    assert stored(run)["data"]["path"] == "data/panel"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return project / run


def test_older_relative_run_finds_its_data_from_another_folder(old_run):
    expected = str(old_run.parents[1] / "data" / "panel")
    assert load_run_config(old_run).data.path == expected
    assert dashboard_load_run(old_run.parent, "old").config.data.path == expected
    # a path given now (an override) is the caller's: relative to the current folder
    assert load_run_config(old_run, {"data.path": "mine"}).data.path == str(Path.cwd() / "mine")


def test_unfound_relative_path_is_named_against_the_current_folder(old_run):
    (old_run / "config.yaml").write_text("data:\n  path: nowhere/panel\n")
    assert load_run_config(old_run).data.path == str(Path.cwd() / "nowhere" / "panel")


def test_absolute_inputs_keeps_absolute_paths(tmp_path):
    cfg = config_from_dict({"data": {"path": str(tmp_path / "d")}})
    assert absolute_inputs(cfg, base=Path("/elsewhere")).data.path == str(tmp_path / "d")
    assert absolute_inputs(cfg).backtest.benchmark is None


def test_dashboard_started_elsewhere_draws_the_daily_ic_of_an_older_run(old_run, monkeypatch):
    monkeypatch.setenv("STOCKFORMER_RUNS", str(old_run.parent))
    monkeypatch.setenv("STOCKFORMER_PREDICTIONS", str(old_run.parent / "none"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.sidebar.radio(key="page").set_value("Signal quality").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [i.value for i in at.info if "unavailable" in i.value]
    assert len(at.get("plotly_chart")) == 3  # daily IC, accuracy over time, quantiles


def test_backtest_of_an_older_run_from_another_folder(old_run):
    from stockformer.backtest import backtest_run

    result = backtest_run(old_run)
    assert result.equity.height > 10
    assert (old_run / "backtest" / "summary.json").is_file()
