"""The run-directory module: one RunInfo and one reader for everything under runs/<id>/, and
outside-prediction folders (`<stamp>-external`) recognised as such, not as broken runs."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import polars as pl
import pytest
from dashboard_fixtures import write_broken_run, write_run

from stockformer.backtest.evaluate import evaluate_signal, write_signal
from stockformer.backtest.runner import backtest_external
from stockformer.dashboard.runs import headline
from stockformer.data.store import save_dataset
from stockformer.errors import RunError
from stockformer.rundir import (
    COMPARISON,
    EXTERNAL,
    TRAINED,
    external_run_dir,
    is_external_name,
    list_runs,
    load_run,
    open_run,
)
from tests.backtest_helpers import backtest_panel, random_predictions

PACKAGE = Path(__file__).resolve().parents[1] / "stockformer"


@pytest.fixture
def outside(tmp_path: Path) -> tuple[Path, Path]:
    """A dataset and another tool's predictions file for it."""
    panel = backtest_panel(days=40, stocks=8, seed=5, suspend=0.0, limit_flags=None)
    save_dataset(panel, tmp_path / "data")
    preds = random_predictions(panel, 2).filter(pl.col("score").is_not_nan())
    preds.write_parquet(tmp_path / "theirs.parquet")
    return tmp_path / "data", tmp_path / "theirs.parquet"


def test_backtested_outside_predictions_are_an_external_run_not_a_broken_one(tmp_path, outside):
    data, theirs = outside
    root = tmp_path / "runs"
    run_dir, _ = backtest_external(theirs, data, runs_dir=root)
    assert is_external_name(run_dir.name)
    info = open_run(root, run_dir.name)
    assert info.kind == EXTERNAL and info.is_external and not info.ok
    assert "outside predictions" in info.error and "backtest/report.html" in info.error
    assert info.config is not None and info.config.data.path == str(data.resolve())
    assert info.summary is not None and "sharpe" in info.summary  # shown in the browser's row
    row = headline(info)
    assert row["status"] == "external" and row["model"] == "outside predictions"
    assert row["sharpe"] == pytest.approx(info.summary["sharpe"])
    with pytest.raises(RunError, match="symbols.json: missing"):
        load_run(run_dir)  # no model to predict with: refused in one line


def test_evaluated_outside_predictions_are_external_without_a_config(tmp_path, outside):
    data, theirs = outside
    from stockformer.backtest import load_predictions
    from stockformer.data.store import load_panel

    root = tmp_path / "runs"
    folder = write_signal(evaluate_signal(load_predictions(theirs), load_panel(data)),
                          external_run_dir(root))
    info = open_run(root, folder.name)
    assert info.kind == EXTERNAL and info.config is None
    assert "signal.json" in info.error
    assert headline(info)["status"] == "external"


def test_run_kinds_in_one_listing(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "good")
    write_broken_run(root, "half", "half")
    cmp = root / "20260101-000000-small-compare"
    cmp.mkdir()
    (cmp / "config.yaml").write_text((root / "good" / "config.yaml").read_text())
    (cmp / "comparison.csv").write_text("model,rank_ic\nstockformer,0.05\n")
    (root / "20260101-000000-external").mkdir()  # made, nothing written yet
    (root / "20260101-000000-external-notours").mkdir()  # not a name external_run_dir gives
    infos = {i.name: i for i in list_runs(root)}
    assert infos["good"].kind == TRAINED and infos["good"].ok
    assert infos["half"].kind == TRAINED and "metrics.json: missing" in infos["half"].error
    assert infos[cmp.name].kind == COMPARISON and infos[cmp.name].is_comparison
    assert infos["20260101-000000-external"].kind == EXTERNAL
    assert "nothing written yet" in infos["20260101-000000-external"].error
    assert infos["20260101-000000-external-notours"].kind == TRAINED
    statuses = {name: headline(i)["status"] for name, i in infos.items()}
    assert statuses == {"good": "ok", "half": "broken", cmp.name: "comparison",
                        "20260101-000000-external": "external",
                        "20260101-000000-external-notours": "broken"}


def test_external_folder_names():
    assert is_external_name("20240102-153000-external")
    assert is_external_name("20240102-153000-external-3")
    assert not is_external_name("20240102-153000-small")
    assert not is_external_name("external")


def test_load_run_refuses_an_unknown_trade_output_in_one_line(tmp_path):
    run = write_run(tmp_path / "runs", "r")
    (run / "symbols.json").write_text(json.dumps(["S000", "S001"]))
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "trade_output": "vibes"}))
    with pytest.raises(RunError, match=r"metrics.json: trade_output 'vibes' is not one of"):
        load_run(run)
    with pytest.raises(RunError, match="run directory not found"):
        load_run(tmp_path / "runs" / "nowhere")


def _definitions(name: str) -> list[str]:
    """Modules of the package that define `name` (a class, a function or an assignment)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
            if getattr(node, "name", None) == name or name in targets:
                found.append(str(path.relative_to(PACKAGE)))
    return found


@pytest.mark.parametrize("name, home", [
    ("RunInfo", "rundir/info.py"), ("load_run", "rundir/info.py"),
    ("TRADE_OUTPUTS", "signal/trade_output.py"), ("load_run_config", "rundir/stored_config.py"),
    ("new_run_dir", "rundir/layout.py"), ("run_warnings", "rundir/info.py"),
])
def test_run_directory_concepts_are_defined_once(name, home):
    assert _definitions(name) == [home]
