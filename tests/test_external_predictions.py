"""Another tool's predictions: three file layouts, `backtest` without a run, `evaluate`, and the
qlib export that the reader reads back unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from stockformer.backtest import load_predictions, run_backtest
from stockformer.backtest.evaluate import evaluate_signal
from stockformer.cli import main
from stockformer.config import BacktestConfig
from stockformer.data.store import save_dataset
from stockformer.errors import DataError
from stockformer.signal.decay import lagged_labels
from tests.backtest_helpers import backtest_panel, foresight_predictions, random_predictions


@pytest.fixture
def market(tmp_path: Path) -> tuple[pl.DataFrame, pl.DataFrame, Path]:
    """A 60-day, 12-stock panel saved as a dataset, and scores for all but its last day."""
    panel = backtest_panel(days=60, stocks=12, seed=7, suspend=0.05, limit_flags=None)
    save_dataset(panel, tmp_path / "data")
    return panel, random_predictions(panel, 3).filter(pl.col("score").is_not_nan()), tmp_path / "data"


def _write_layouts(preds: pl.DataFrame, folder: Path) -> dict[str, Path]:
    """The same scores as long Parquet, long CSV, qlib pred.pkl, wide CSV and wide Parquet."""
    files = {name: folder / name for name in
             ("long.parquet", "long.csv", "pred.pkl", "wide.csv", "wide.parquet")}
    preds.write_parquet(files["long.parquet"])
    preds.rename({"date": "datetime", "symbol": "instrument"}).write_csv(files["long.csv"])
    pdf = preds.to_pandas().rename(columns={"date": "datetime", "symbol": "instrument"})
    pdf["datetime"] = pd.to_datetime(pdf["datetime"])
    pdf.set_index(["datetime", "instrument"])[["score"]].to_pickle(files["pred.pkl"])
    wide = preds.pivot(on="symbol", index="date", values="score").sort("date")
    wide.write_csv(files["wide.csv"])
    wide_pd = wide.to_pandas().set_index("date")
    wide_pd.index = pd.to_datetime(wide_pd.index)
    wide_pd.index.name = None  # pandas writes an unnamed index as __index_level_0__
    wide_pd.to_parquet(files["wide.parquet"])
    return files


def test_every_layout_reads_to_the_same_table(tmp_path: Path, market) -> None:
    _, preds, _ = market
    want = preds.sort("date", "symbol")
    for name, path in _write_layouts(preds, tmp_path).items():
        got = load_predictions(path)
        assert got.columns == ["date", "symbol", "score"], name
        assert got.select("date", "symbol").equals(want.select("date", "symbol")), name
        np.testing.assert_allclose(got["score"].to_numpy(), want["score"].to_numpy(), err_msg=name)


def test_symbols_with_leading_zeros_stay_text(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("date,symbol,score\n2024-01-02,000001,0.5\n2024-01-02,600000,1\n")
    assert load_predictions(tmp_path / "p.csv")["symbol"].to_list() == ["000001", "600000"]
    (tmp_path / "w.csv").write_text("date,000001,600000\n2024-01-02,0.5,\n2024-01-03,0.1,0.2\n")
    wide = load_predictions(tmp_path / "w.csv")
    assert wide["symbol"].to_list() == ["000001", "000001", "600000"]  # the blank cell: no row


def test_wide_table_with_text_cells_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_text("date,A,B\n2024-01-02,0.5,high\n")
    with pytest.raises(DataError, match="column 'B' is not numeric"):
        load_predictions(tmp_path / "w.csv")


def test_an_empty_optional_column_is_dropped_not_fatal(tmp_path: Path, market) -> None:
    panel, preds, _ = market
    # a header-only prob_up (another tool's export) must not mask out every day
    preds.with_columns(pl.lit(None, dtype=pl.Float64).alias("prob_up")).write_csv(tmp_path / "p.csv")
    got = load_predictions(tmp_path / "p.csv")
    assert "prob_up" not in got.columns
    res = run_backtest(got, panel, BacktestConfig(topk=3, initial_cash=1e6))
    assert res.summary["prediction"]["days"] > 40


def test_backtest_predictions_without_a_run(tmp_path: Path, market, monkeypatch, capsys) -> None:
    panel, preds, data = market
    files = _write_layouts(preds, tmp_path)
    monkeypatch.chdir(tmp_path)  # the default runs/ folder is relative to where one stands
    assert main(["backtest", "--predictions", str(files["long.parquet"]), "--data", str(data),
                 "--topk", "3"]) == 0
    made = sorted((tmp_path / "runs").iterdir())
    assert len(made) == 1 and made[0].name.endswith("-external")
    run = made[0]
    summary = json.loads((run / "backtest" / "summary.json").read_text())
    assert summary["settings"]["topk"] == 3
    assert summary["settings"]["predictions_file"] == str(files["long.parquet"].resolve())
    want = run_backtest(preds, panel, BacktestConfig(topk=3)).summary
    assert summary["total_return"] == pytest.approx(want["total_return"])
    # the folder is a run: `backtest --run` on it reads its config (data path stored absolute)
    assert load_predictions(run / "predictions.parquet").equals(load_predictions(files["long.csv"]))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["backtest", "--run", str(run)]) == 0
    # the same scores as a wide table trade the same way
    assert main(["backtest", "--predictions", str(files["wide.csv"]), "--data", str(data),
                 "--topk", "3", "--runs-dir", str(tmp_path / "runs")]) == 0
    totals = {json.loads((r / "backtest" / "summary.json").read_text())["total_return"]
              for r in (tmp_path / "runs").iterdir()}
    assert len(totals) == 1


def test_backtest_predictions_bad_input_is_one_line(tmp_path: Path, market, capsys) -> None:
    _, preds, data = market
    preds.write_parquet(tmp_path / "p.parquet")
    runs = tmp_path / "runs"
    assert main(["backtest", "--predictions", str(tmp_path / "p.parquet"), "--runs-dir", str(runs)]) == 2
    assert "needs --data" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("date,symbol\n2024-01-02,A\n")
    assert main(["backtest", "--predictions", str(tmp_path / "bad.csv"), "--data", str(data),
                 "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "missing column" in err
    assert not runs.exists()  # nothing made for a refused input


def test_lagged_labels() -> None:
    px = np.array([[1.0], [2.0], [4.0], [5.0], [10.0]])
    np.testing.assert_allclose(lagged_labels(px, 1)[:, 0], [1.0, 0.25, 1.0, np.nan, np.nan])
    np.testing.assert_allclose(lagged_labels(px, 2)[:, 0], [0.25, 1.0, np.nan, np.nan, np.nan])
    assert np.isnan(lagged_labels(px, 9)).all()


def test_ic_decay_finds_the_lag_a_signal_knows(market) -> None:
    panel, _, _ = market
    now = foresight_predictions(panel)  # knows the lag-1 return exactly
    rep = evaluate_signal(now, panel, topk=3)
    decay = {row["lag"]: row for row in rep.decay}
    assert sorted(decay) == [1, 5, 10, 20]
    assert decay[1]["rank_ic"] == pytest.approx(1.0) and rep.metrics["rank_ic"] == pytest.approx(1.0)
    assert abs(decay[5]["rank_ic"]) < 0.3 and abs(decay[20]["rank_ic"]) < 0.3
    # shift the same knowledge 4 days earlier: the score of t now knows the lag-5 return
    dates = sorted(panel["date"].unique().to_list())
    later = {d: dates[i - 4] for i, d in enumerate(dates) if i >= 4}
    early = now.filter(pl.col("date").is_in(list(later))).with_columns(
        pl.col("date").replace_strict(later, return_dtype=pl.Date))
    decay = {row["lag"]: row for row in evaluate_signal(early, panel, topk=3).decay}
    assert decay[5]["rank_ic"] == pytest.approx(1.0) and abs(decay[1]["rank_ic"]) < 0.3


def test_evaluate_matches_the_backtest_and_writes(tmp_path: Path, market, capsys) -> None:
    panel, preds, data = market
    files = _write_layouts(preds, tmp_path)
    out = tmp_path / "eval"
    assert main(["evaluate", "--predictions", str(files["wide.parquet"]), "--data", str(data),
                 "--topk", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for word in ("rank_ic", "icir", "ic_tstat", "rank_ic_tstat", "always", "quantile 5",
                 "IC decay lag 1", "IC decay lag 20"):
        assert word in text, word
    signal = json.loads((out / "signal.json").read_text())
    want = run_backtest(preds, panel, BacktestConfig(topk=3)).summary["prediction"]
    for key in ("ic", "rank_ic", "icir", "rank_icir", "ic_tstat", "accuracy", "majority_rate"):
        assert signal["metrics"][key] == pytest.approx(want[key]), key
    assert signal["metrics"]["quantile_returns"] == pytest.approx(want["quantile_returns"])
    assert [r["lag"] for r in signal["ic_decay"]] == [1, 5, 10, 20]
    assert signal["ic_decay"][0]["ic"] == pytest.approx(want["ic"])
    assert signal["settings"]["accuracy_from"] == "score > 0"
    daily = pl.read_parquet(out / "daily_ic.parquet")
    assert daily.columns == ["date", "ic", "rank_ic"]
    assert int(daily["ic"].is_not_nan().sum()) == want["days"]
    # default folder: a new runs/<id>-external/
    runs = tmp_path / "runs"
    assert main(["evaluate", "--predictions", str(files["pred.pkl"]), "--data", str(data),
                 "--runs-dir", str(runs)]) == 0
    (made,) = runs.iterdir()
    assert made.name.endswith("-external") and (made / "signal.json").is_file()


def test_export_qlib_round_trip(tmp_path: Path, market, capsys) -> None:
    _, preds, _ = market
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    full = preds.with_columns((pl.col("score") / 100).alias("pred_return"),
                              pl.lit(0.5).alias("prob_up"))
    full.write_parquet(run / "predictions.parquet")
    assert main(["export", "--run", str(run), "--format", "qlib"]) == 0
    pkl = run / "pred.pkl"
    frame = pd.read_pickle(pkl)
    assert list(frame.index.names) == ["datetime", "instrument"] and list(frame.columns) == ["score"]
    assert str(frame.index.levels[0].dtype).startswith("datetime64")
    back = load_predictions(pkl)
    assert back.equals(load_predictions(run / "predictions.parquet").select("date", "symbol", "score"))
    # latest + --out, and a bad format is one line, exit 2
    assert main(["export", "--run", "latest", "--runs-dir", str(tmp_path / "runs"),
                 "--out", str(tmp_path / "x.pkl")]) == 0
    assert load_predictions(tmp_path / "x.pkl").equals(back)
    capsys.readouterr()
    assert main(["export", "--run", str(run), "--format", "csv"]) == 2
    assert "'csv': not one of qlib" in capsys.readouterr().err
    assert main(["export", "--run", str(tmp_path / "nope")]) == 2
    assert "run directory not found" in capsys.readouterr().err
