"""Dashboard building blocks without Streamlit: path safety, run loading, analytics, picks."""

from __future__ import annotations

import math
import os
from datetime import date, datetime, time

import numpy as np
import polars as pl
import pytest
from dashboard_fixtures import write_broken_run, write_panel, write_picks, write_run

from stockformer.dashboard import analytics
from stockformer.dashboard.paths import parse_locations
from stockformer.dashboard.picks import is_stale, last_trading_day, latest_picks
from stockformer.dashboard.runs import artifact, headline
from stockformer.errors import RunError
from stockformer.rundir import list_runs, safe_child, safe_run_path
from stockformer.rundir import open_run as load_run


@pytest.mark.parametrize("name", ["../../etc", "..", ".", "/etc", "a/b", "..\\x", "", "x\x00"])
def test_safe_run_path_refuses_names_outside_root(tmp_path, name):
    with pytest.raises(RunError):
        safe_run_path(tmp_path, name)


def test_safe_run_path_accepts_plain_child_and_refuses_symlink_out(tmp_path):
    (tmp_path / "runs" / "good").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    os.symlink(tmp_path / "secret", tmp_path / "runs" / "sneaky")
    assert safe_run_path(tmp_path / "runs", "good") == (tmp_path / "runs" / "good").resolve()
    with pytest.raises(RunError, match="outside the runs root"):
        safe_run_path(tmp_path / "runs", "sneaky")
    os.symlink("/etc/hostname", tmp_path / "runs" / "good" / "metrics.json")
    with pytest.raises(RunError, match="outside the run directory"):
        safe_child(tmp_path / "runs" / "good", "metrics.json")


def test_locations_flag_beats_env_beats_default(tmp_path):
    env = {"STOCKFORMER_RUNS": str(tmp_path / "env_runs")}
    assert parse_locations([], {}).runs_root.name == "runs"
    assert parse_locations([], {}).predictions.name == "predictions"
    assert parse_locations([], env).runs_root == (tmp_path / "env_runs").resolve()
    flagged = parse_locations(["--runs", str(tmp_path / "flag"), "-q", "--predictions", "p"], env)
    assert flagged.runs_root == (tmp_path / "flag").resolve()
    assert flagged.predictions.name == "p"


def test_list_runs_keeps_good_runs_and_explains_broken_ones(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "good")
    write_broken_run(root, "half", "half")
    write_broken_run(root, "badjson", "json")
    write_broken_run(root, "badcfg", "config")
    infos = {i.name: i for i in list_runs(root)}
    assert infos["good"].ok and infos["good"].summary["sharpe"] == pytest.approx(
        load_run(root, "good").summary["sharpe"]
    )
    assert "metrics.json: missing" in infos["half"].error
    assert "not valid JSON" in infos["badjson"].error
    assert "model.colour" in infos["badcfg"].error
    assert headline(infos["good"])["model"] == "stockformer"
    assert headline(infos["half"])["status"] == "broken"
    assert list_runs(tmp_path / "nothing_here") == []


def test_artifact_names_file_and_missing_columns(tmp_path):
    run = write_run(tmp_path / "runs", "r")
    pl.DataFrame({"date": [date(2022, 1, 3)], "symbol": ["A"]}).write_parquet(run / "predictions.parquet")
    info = load_run(tmp_path / "runs", "r")
    with pytest.raises(RunError, match=r"predictions.parquet: missing columns score, pred_return, prob_up"):
        artifact(info, "predictions.parquet")
    (run / "backtest" / "trades.parquet").write_bytes(b"PAR1 half written")
    with pytest.raises(RunError, match="trades.parquet: cannot be read"):
        artifact(info, "backtest/trades.parquet")


def _equity(values):
    dates = pl.date_range(date(2023, 1, 2), date(2023, 1, 2 + len(values) - 1), eager=True)
    return pl.DataFrame({"date": dates, "strategy": values, "benchmark": values, "excess": values})


def test_drawdown_and_rolling_sharpe():
    eq = _equity([1.0, 1.2, 0.9, 1.3, 1.04])
    assert analytics.drawdown(eq)["drawdown"].to_list() == pytest.approx([0, 0, -0.25, 0, -0.2])
    rs = analytics.rolling_sharpe(eq, window=3, days_per_year=252)["rolling_sharpe"]
    r = np.array([0.2, -0.25, 1.3 / 0.9 - 1])
    assert rs[3] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    assert rs[0] is None


def test_monthly_returns_compound_within_month():
    dates = [date(2023, 1, 10), date(2023, 1, 31), date(2023, 2, 15), date(2023, 3, 1)]
    eq = pl.DataFrame({"date": dates, "strategy": [1.0, 1.1, 0.99, 1.089]})
    out = analytics.monthly_returns(eq)
    assert out["month"].to_list() == [1, 2, 3]
    assert out["ret"].to_list() == pytest.approx([0.1, -0.1, 0.1])


def test_turnover_from_weights():
    d1, d2, d3 = date(2023, 1, 2), date(2023, 1, 3), date(2023, 1, 4)
    pos = pl.DataFrame(
        {
            "date": [d1, d1, d2, d2, d3, d3],
            "symbol": ["A", "B", "A", "C", "A", "C"],
            "shares": [1.0] * 6,
            "weight": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
            "value": [1.0] * 6,
        }
    )
    assert analytics.turnover(pos)["turnover"].to_list() == pytest.approx([0.5, 0.5, 0.0])


def test_signal_series_matches_stored_test_metrics(tmp_path):
    """Daily IC recomputed from predictions + panel labels equals what metrics.json holds."""
    run = write_run(tmp_path / "runs", "r", skill=0.2)
    info = load_run(tmp_path / "runs", "r")
    panel = pl.read_parquet(tmp_path / "data" / "panel_20_160_0" / "panel.parquet")
    labels = analytics.realised_labels(panel, horizon=1, price="close")
    series = analytics.signal_series(pl.read_parquet(run / "predictions.parquet"), labels)
    test = info.metrics["test"]
    assert analytics.series_stats(series["ic"])["mean"] == pytest.approx(test["ic"])
    assert analytics.series_stats(series["rank_ic"])["tstat"] == pytest.approx(test["rank_ic_tstat"])
    assert series["accuracy"].drop_nulls().mean() == pytest.approx(test["accuracy"], abs=0.02)
    q = analytics.quantile_returns(pl.read_parquet(run / "predictions.parquet"), labels)
    assert q == pytest.approx(test["quantile_returns"])


def test_realised_labels_use_t_plus_one_to_t_plus_two(tmp_path):
    panel = pl.read_parquet(write_panel(tmp_path / "d", stocks=3, days=10) / "panel.parquet")
    labels = analytics.realised_labels(panel, 1, "close")
    s0 = panel.filter(pl.col("symbol") == "S000").sort("date")["close"].to_numpy()
    got = labels.filter(pl.col("symbol") == "S000").sort("date")["label"].to_numpy()
    assert len(got) == 8  # the last two days have no realised label
    assert got == pytest.approx(s0[2:] / s0[1:-1] - 1)


def test_latest_picks_prefers_newest_ok_manifest_row(tmp_path):
    folder = tmp_path / "predictions"
    assert latest_picks(folder) is None
    write_picks(folder, date(2024, 3, 4))
    write_picks(folder, date(2024, 3, 5), cutoff=date(2024, 3, 5))
    picks = latest_picks(folder)
    assert picks.date == date(2024, 3, 5) and picks.frame["rank"].to_list()[:3] == [1, 2, 3]
    # a failed job day is not "latest", even when its file exists
    m = pl.read_parquet(folder / "manifest.parquet")
    m = m.with_columns(pl.when(pl.col("date") == date(2024, 3, 5)).then(pl.lit("failed")).otherwise(pl.col("status")).alias("status"))
    m.write_parquet(folder / "manifest.parquet")
    assert latest_picks(folder).date == date(2024, 3, 4)


def test_latest_picks_without_manifest_uses_newest_file(tmp_path):
    folder = tmp_path / "p"
    write_picks(folder, date(2024, 3, 1), manifest=False)
    write_picks(folder, date(2024, 2, 28), manifest=False)
    picks = latest_picks(folder)
    assert picks.date == date(2024, 3, 1) and picks.manifest is None and picks.generated_at is None


def test_last_trading_day_and_staleness(tmp_path):
    close = time(16, 30)
    # Monday morning: the last finished session is Friday
    assert last_trading_day(datetime(2024, 3, 11, 9, 0), close) == date(2024, 3, 8)
    assert last_trading_day(datetime(2024, 3, 11, 17, 0), close) == date(2024, 3, 11)
    assert last_trading_day(datetime(2024, 3, 10, 12, 0), close) == date(2024, 3, 8)  # Sunday
    write_picks(tmp_path, date(2024, 3, 8))
    picks = latest_picks(tmp_path)
    assert not is_stale(picks, datetime(2024, 3, 11, 9, 0), close)
    assert is_stale(picks, datetime(2024, 3, 11, 17, 0), close)


def test_rerun_uses_the_configured_benchmark(tmp_path):
    """The re-run reads backtest.benchmark like the stored backtest (it was silently dropped
    while the dashboard probed for a loader the backtest package never exported)."""
    from stockformer.backtest import run_backtest
    from stockformer.backtest.runner import load_benchmark
    from stockformer.config import BacktestConfig
    from stockformer.dashboard.rerun import rerun_backtest
    from tests.backtest_helpers import backtest_panel, random_predictions

    panel = backtest_panel(days=50, stocks=8, seed=2, limit_flags=None)
    preds = random_predictions(panel, 1)
    dates = panel["date"].unique().sort()
    index = pl.DataFrame({"date": dates, "close": 100.0 * np.cumprod(1 + 0.01 * np.sin(np.arange(len(dates))))})
    index.write_csv(tmp_path / "index.csv")
    cfg = BacktestConfig(topk=3, benchmark=str(tmp_path / "index.csv"))
    got = rerun_backtest(preds, panel, cfg)["equity"]["benchmark"].to_numpy()
    want = run_backtest(preds, panel, cfg, load_benchmark(tmp_path / "index.csv")).equity["benchmark"]
    universe = run_backtest(preds, panel, cfg, None).equity["benchmark"].to_numpy()
    np.testing.assert_allclose(got, want.to_numpy())
    assert not np.allclose(got, universe)
