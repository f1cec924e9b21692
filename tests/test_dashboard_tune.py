"""A `stockformer tune` folder in the run browser: read by stockformer.rundir as kind "tune",
shown on the Runs page as its table of trials (best first), never offered as a model to open."""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_fixtures import write_run
from streamlit.testing.v1 import AppTest

from stockformer.config import Config
from stockformer.dashboard.runs import trials_view
from stockformer.rundir import (
    STUDY_FILE,
    list_runs,
    open_run,
    read_trials,
    save_run_config,
    write_trials,
)

APP = str(Path(__file__).resolve().parents[1] / "app.py")
ROWS = [
    {"number": 0, "state": "complete", "value": 0.021, "epochs": 3, "seconds": 4.5,
     "train.lr": 0.001, "model.dropout": 0.1},
    {"number": 1, "state": "pruned", "value": -0.01, "epochs": 1, "seconds": 1.2,
     "train.lr": 0.0003, "model.dropout": 0.2},
    {"number": 2, "state": "complete", "value": 0.047, "epochs": 3, "seconds": 4.4,
     "train.lr": 0.002, "model.dropout": 0.05},
    {"number": 3, "state": "fail", "value": None, "epochs": 0, "seconds": 0.1,
     "train.lr": 0.004, "model.dropout": 0.3, "error": "trial 3: model: d_model must divide heads"},
]


def write_tune_dir(root: Path, name: str, rows=ROWS) -> Path:
    path = root / name
    path.mkdir(parents=True)
    save_run_config(path, Config(name="tiny"))
    (path / STUDY_FILE).write_bytes(b"")  # the SQLite study; the browser never opens it
    if rows is not None:
        write_trials(path, rows, ["train.lr", "model.dropout"])
    return path


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("STOCKFORMER_RUNS", str(root))
    monkeypatch.setenv("STOCKFORMER_PREDICTIONS", str(tmp_path / "predictions"))
    return root


def test_rundir_reads_a_tune_folder(tmp_path):
    write_tune_dir(tmp_path, "20260101-000000-tiny-tune")
    info = open_run(tmp_path, "20260101-000000-tiny-tune")
    assert info.kind == "tune" and info.is_tune and not info.ok  # not a model to open
    assert info.config is not None and info.config.name == "tiny"
    assert info.trials.height == 4
    assert info.trials["train.lr"].to_list() == [0.001, 0.0003, 0.002, 0.004]  # floats round-trip
    assert "4 trials (2 complete, 1 fail, 1 pruned)" in info.error
    assert "best validation RankIC 0.0470 (trial 2)" in info.error


def test_a_study_before_its_first_trial_is_a_tune_folder_saying_so(tmp_path):
    write_tune_dir(tmp_path, "fresh-tune", rows=None)
    info = open_run(tmp_path, "fresh-tune")
    assert info.kind == "tune" and info.trials is None
    assert "no trial has finished yet" in info.error


def test_trials_view_puts_the_best_first():
    view = trials_view(read_trials_of(ROWS))
    assert view["number"].tolist() == [2, 0, 1, 3]
    assert {"state", "value", "epochs", "seconds", "train.lr", "model.dropout", "error"} <= set(view.columns)


def read_trials_of(rows) -> object:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_trials(tmp, rows, ["train.lr", "model.dropout"])
        return read_trials(tmp)


def test_runs_page_shows_a_tune_folder_as_its_trials_table(runs_root):
    write_run(runs_root, "demo")
    write_tune_dir(runs_root, "20260101-000000-tiny-tune")
    assert {i.kind for i in list_runs(runs_root)} == {"trained", "tune"}
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    infos = " ".join(e.value for e in at.info)
    assert "a `stockformer tune` study, 4 trials" in infos
    tables = [d.value for d in at.dataframe]
    trials = [t for t in tables if "train.lr" in t.columns]
    assert len(trials) == 1
    assert trials[0]["number"].tolist() == [2, 0, 1, 3]
    assert trials[0]["state"].tolist() == ["complete", "complete", "pruned", "fail"]
    runs_table = next(t for t in tables if "run" in t.columns)
    assert runs_table.set_index("run").loc["20260101-000000-tiny-tune", "status"] == "tune"
    # the model pickers offer the trained run only
    assert at.sidebar.multiselect(key="runs_selected").options == ["demo"]
