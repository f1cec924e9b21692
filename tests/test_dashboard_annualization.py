"""The Performance page annualises with the run's stored days per year and shows the
short-period caveat (Streamlit's AppTest on a fake run)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from dashboard_fixtures import write_run
from streamlit.testing.v1 import AppTest

from stockformer.io import write_json

APP = str(Path(__file__).resolve().parents[1] / "app.py")
NOTE = "Short test period: 40 trading days (under six months). Annualised figures mislead."


def _performance_page(root: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("STOCKFORMER_RUNS", str(root))
    monkeypatch.setenv("STOCKFORMER_PREDICTIONS", str(root.parent / "predictions"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.sidebar.radio(key="page").set_value("Performance").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_rolling_sharpe_uses_the_stored_days_and_the_caveat_shows(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    run = write_run(root, "cn")
    summary_path = run / "backtest" / "summary.json"
    summary = json.loads(summary_path.read_text())
    # an A-share run: 238, where the page used to assume 252 for every market
    summary["annualization"] = {"days_per_year": 238, "market": "XSHG",
                                "decided_by": "cost preset cn_a_share", "caveat": NOTE}
    write_json(summary_path, summary)
    at = _performance_page(root, monkeypatch)
    assert NOTE in [w.value for w in at.warning]

    window = at.slider(key="perf_window").value
    chart = next(c for c in at.get("plotly_chart") if '"rolling_sharpe"' in c.proto.spec)
    shown = [y for y in json.loads(chart.proto.spec)["data"][0]["y"] if y is not None]
    strat = pl.read_parquet(run / "backtest" / "equity.parquet")["strategy"].to_numpy()
    r = strat[1:] / strat[:-1] - 1.0
    last = r[-window:]
    assert shown[-1] == pytest.approx(last.mean() / last.std(ddof=1) * np.sqrt(238), rel=1e-6)


def test_rerun_annualises_like_the_stored_backtest(tmp_path):
    """A re-run with other settings decides the days per year from the same inputs (here the
    dataset's meta.json says XNYS; the cost preset is the A-share default)."""
    import datetime as dt

    from backtest_helpers import backtest_panel, random_predictions

    from stockformer.config import BacktestConfig
    from stockformer.dashboard import loaders
    from stockformer.data.store import save_dataset
    from stockformer.rundir import open_run as load_run

    panel = backtest_panel(days=60, stocks=8, seed=3, limit_flags=None, start=dt.date(2022, 1, 3))
    save_dataset(panel, tmp_path / "data", meta={"calendar": "XNYS"})
    run = tmp_path / "runs" / "us"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"data:\n  path: {tmp_path / 'data'}\n")
    write_json(run / "metrics.json", {"test": {"ic": 0.0}, "validation": {"ic": 0.0}})
    preds = random_predictions(panel, 1)
    preds.with_columns(pred_return=pl.col("score"), prob_up=pl.lit(0.5)).write_parquet(
        run / "predictions.parquet")
    info = load_run(tmp_path / "runs", "us")
    assert info.error is None, info.error
    result = loaders.rerun(info, BacktestConfig(topk=3))
    assert result["summary"]["annualization"]["days_per_year"] == 252
