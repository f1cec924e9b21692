"""Dashboard speed on a 300-stock run: the cold loads a page pays once (cached by file mtime
afterwards) and a sidebar re-run of the backtest with other settings.

    python -m benchmarks.bench_dashboard [--stocks 300] [--days 1500]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from stockformer.config import config_from_dict
from stockformer.dashboard import analytics
from stockformer.dashboard.rerun import rerun_backtest
from stockformer.data.synthetic import generate_market
from stockformer.io import write_json, write_parquet, write_text
from stockformer.rundir import list_runs


def _timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def build_run(root: Path, stocks: int, days: int) -> tuple[Path, pl.DataFrame, pl.DataFrame]:
    from stockformer.backtest.output import write_backtest

    panel = generate_market(stocks=stocks, days=days, seed=0)
    data = root / "data"
    write_parquet(data / "panel.parquet", panel)
    dates = panel["date"].unique().sort()
    test_dates = dates[int(len(dates) * 0.75):]
    preds = panel.filter(pl.col("date").is_in(test_dates.implode())).select("date", "symbol")
    rng = np.random.default_rng(0)
    score = rng.normal(0, 1, preds.height)
    preds = preds.with_columns(
        score=pl.Series(score), pred_return=pl.Series(score * 0.01), prob_up=pl.Series(1 / (1 + np.exp(-score)))
    )
    run = root / "runs" / "bench"
    cfg = config_from_dict({"data": {"path": str(data)}})
    write_text(run / "config.yaml", cfg.to_yaml())
    write_parquet(run / "predictions.parquet", preds)
    write_json(run / "metrics.json", {"test": {}, "validation": {}})
    from stockformer.backtest import engine

    write_backtest(engine.run_backtest(preds, panel, cfg.backtest), run / "backtest")
    return run, panel, preds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stocks", type=int, default=300)
    parser.add_argument("--days", type=int, default=1500)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run, panel, preds = build_run(root, args.stocks, args.days)
        cfg = config_from_dict({}).backtest
        t, _ = _timed(lambda: list_runs(root / "runs"))
        rows.append(("list runs (1 run, config + metrics + summary)", t))
        t, _ = _timed(lambda: pl.read_parquet(run / "backtest" / "equity.parquet"))
        rows.append(("read equity.parquet", t))
        eq = pl.read_parquet(run / "backtest" / "equity.parquet")
        t, _ = _timed(
            lambda: (analytics.drawdown(eq), analytics.monthly_returns(eq), analytics.rolling_sharpe(eq, days_per_year=238))
        )
        rows.append(("drawdown + monthly + rolling Sharpe", t))
        t, _ = _timed(lambda: pl.read_parquet(root / "data" / "panel.parquet"))
        rows.append((f"read panel ({panel.height:,} rows)", t))
        t, labels = _timed(lambda: analytics.realised_labels(panel, 1, "close"))
        rows.append(("realised labels", t))
        t, _ = _timed(lambda: analytics.signal_series(preds, labels))
        rows.append((f"daily IC / RankIC / accuracy ({preds['date'].n_unique()} days)", t))
        for topk, n_drop in ((5, 1), (10, 2), (50, 5)):
            c = cfg.model_copy(update={"topk": topk, "n_drop": n_drop})
            t, _ = _timed(lambda c=c: rerun_backtest(preds, panel, c))
            rows.append((f"re-run backtest topk={topk} n_drop={n_drop}", t))
    print(f"\nDashboard, {args.stocks} stocks x {args.days} days, test period = last 25%, "
          f"best of 3, {os.cpu_count()} CPUs\n")
    print("| step | seconds |\n|---|---:|")
    for name, t in rows:
        print(f"| {name} | {t:.3f} |")


if __name__ == "__main__":
    main()
