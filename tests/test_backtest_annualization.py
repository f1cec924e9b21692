"""Annualisation follows the market (238 A-shares, 252 US), is stored with the backtest and read
by the report, the walk-forward table and the dashboard; short periods carry a caveat."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from stockformer.backtest import annualization, backtest_run, run_backtest
from stockformer.backtest.walkforward import window_table
from stockformer.config import BacktestConfig, CostConfig
from stockformer.dashboard import analytics
from stockformer.data.store import save_dataset
from stockformer.io import write_json
from tests.backtest_helpers import backtest_panel, random_predictions


@pytest.mark.parametrize(
    ("preset", "market", "calendar", "days", "why"),
    [
        ("cn_a_share", None, "XSHG", 238, "cost preset cn_a_share"),
        ("us", None, "XSHG", 252, "cost preset us"),
        ("cn_a_share", "XNYS", None, 252, "dataset market XNYS"),  # the data's own market first
        ("none", None, "XNYS", 252, "calendar XNYS"),
        ("custom", None, "nasdaq", 252, "calendar nasdaq"),
        ("none", None, "data", 238, "default (A-share)"),
        ("none", "moon", None, 238, "default (A-share)"),
    ],
)
def test_decide(preset, market, calendar, days, why):
    got = annualization.decide(preset, market, calendar)
    assert (got["days_per_year"], got["decided_by"]) == (days, why)


def test_dataset_meta_declares_the_market():
    assert annualization.dataset_market({"calendar": "XNYS"}) == "XNYS"
    assert annualization.dataset_market({"market": "us"}) == "XNYS"
    assert annualization.dataset_market({"source": "baostock"}) == "XSHG"
    assert annualization.dataset_market({"source": "yfinance"}) is None
    assert annualization.days_per_year({}) == 238  # runs stored before the number was


def _xnys_run(tmp_path, days: int = 260):
    """A dataset whose meta.json says XNYS, backtested with the default (A-share) cost preset."""
    panel = backtest_panel(days=days, stocks=10, seed=4, limit_flags=None, start=dt.date(2022, 1, 3))
    save_dataset(panel, tmp_path / "data", meta={"calendar": "XNYS"})
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(f"data:\n  path: {tmp_path / 'data'}\nbacktest:\n  topk: 3\n")
    random_predictions(panel, 5).write_parquet(run / "predictions.parquet")
    return run, backtest_run(run)


def test_xnys_dataset_is_252_everywhere(tmp_path):
    run, result = _xnys_run(tmp_path)
    stored = json.loads((run / "backtest" / "summary.json").read_text())
    assert stored["annualization"]["days_per_year"] == 252
    assert annualization.days_per_year(stored) == 252
    r = result.equity["strategy"].pct_change().drop_nulls().to_numpy()
    assert stored["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252))
    assert stored["annualized_volatility"] == pytest.approx(r.std(ddof=1) * np.sqrt(252))
    assert "252 trading days a year (dataset market XNYS)" in (run / "backtest" / "report.html").read_text()

    # walk-forward: a window's Sharpe uses the stored number
    dates = result.equity["date"].to_list()
    test = {"ic": 0.0, "rank_ic": 0.0, "accuracy": 0.5}
    write_json(run / "metrics.json", {"windows": [{
        "window": 0, "test_start": str(dates[0]), "test_end": str(dates[99]), "test": test,
        "best_epoch": 1, "train_seconds": 1.0}]})
    row = window_table(run).row(0, named=True)
    curve = result.equity["strategy"].to_numpy()[:101]
    wr = curve[1:] / curve[:-1] - 1.0
    assert row["sharpe"] == pytest.approx(wr.mean() / wr.std(ddof=1) * np.sqrt(252))

    # dashboard: the rolling Sharpe annualised with the run's number
    eq = result.equity
    rs = analytics.rolling_sharpe(eq, 20, days_per_year=annualization.days_per_year(stored))
    last = r[-20:]
    assert rs["rolling_sharpe"][-1] == pytest.approx(last.mean() / last.std(ddof=1) * np.sqrt(252))


def test_preset_us_without_meta_is_252_and_cn_is_238():
    panel = backtest_panel(days=40, stocks=8, seed=1, limit_flags=None)
    preds = random_predictions(panel, 2)
    us = run_backtest(preds, panel, BacktestConfig(topk=2, costs=CostConfig(preset="us")))
    cn = run_backtest(preds, panel, BacktestConfig(topk=2))
    assert us.summary["annualization"]["days_per_year"] == 252
    assert cn.summary["annualization"]["days_per_year"] == 238


def test_short_period_caveat_in_summary_report_and_dashboard(tmp_path):
    panel = backtest_panel(days=40, stocks=8, seed=1, limit_flags=None)
    short = run_backtest(random_predictions(panel, 2), panel, BacktestConfig(topk=2))
    note = annualization.caveat(short.summary)
    assert note and "under six months" in note and "Annualised figures" in note
    from stockformer.backtest.report import build_html

    assert "under six months" in build_html(short)


def test_long_period_has_no_caveat(tmp_path):
    run, result = _xnys_run(tmp_path, days=260)  # 260 calendar days of rows: over six months
    assert annualization.caveat(result.summary) is None
    assert "under six months" not in (run / "backtest" / "report.html").read_text()


def test_cli_summary_states_the_basis_and_the_caveat(tmp_path, capsys):
    from stockformer.cli import main

    run, _ = _xnys_run(tmp_path / "long", days=260)
    assert main(["backtest", "--run", str(run)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps the caption
    assert "annualised with 252 trading days a year" in out and "caveat" not in out
    assert "%" in out  # the shared formatter: returns as percentages

    short, _ = _xnys_run(tmp_path / "short", days=40)
    assert main(["backtest", "--run", str(short)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "caveat: Short test period" in out and "under six months" in out
