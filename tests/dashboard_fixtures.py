"""A realistic fake run directory (and daily-job output) following the run-directory
contract, for the dashboard tests. Numbers are internally consistent: metrics.json is
computed from the predictions and the panel's labels, the backtest from a simple top-k
simulation on the same panel."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from stockformer.config import Config, config_from_dict
from stockformer.io import write_json, write_parquet, write_text
from stockformer.signal.metrics import prediction_metrics


def business_days(start: date, n: int) -> list[date]:
    days = np.busday_offset(np.datetime64(start), np.arange(n), roll="forward")
    return [d.astype(object) for d in days]


def write_panel(folder: Path, stocks: int = 20, days: int = 160, seed: int = 0) -> Path:
    """A valid long panel (dataset directory with panel.parquet); returns the directory."""
    rng = np.random.default_rng(seed)
    dates = business_days(date(2022, 1, 3), days)
    symbols = [f"S{i:03d}" for i in range(stocks)]
    ret = rng.normal(0.0004, 0.02, size=(days, stocks))
    close = 10.0 * np.exp(np.cumsum(ret, axis=0))
    open_ = close * np.exp(rng.normal(0, 0.005, size=close.shape))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    frame = pl.DataFrame(
        {
            "date": np.repeat(np.array(dates, dtype="datetime64[D]"), stocks),
            "symbol": symbols * days,
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "volume": rng.uniform(1e5, 1e6, size=days * stocks),
        }
    ).with_columns(pl.col("date").cast(pl.Date))
    folder.mkdir(parents=True, exist_ok=True)
    write_parquet(folder / "panel.parquet", frame)
    return folder


def _labels(close: np.ndarray) -> np.ndarray:
    """Return from close t+1 to close t+2 (label horizon 1), NaN where unrealised."""
    out = np.full_like(close, np.nan)
    out[:-2] = close[2:] / close[1:-1] - 1.0
    return out


def write_run(
    root: Path,
    name: str,
    *,
    stocks: int = 20,
    days: int = 160,
    seed: int = 0,
    model: str = "stockformer",
    topk: int = 5,
    skill: float = 0.1,
    data_dir: Path | None = None,
) -> Path:
    """runs/<name>/ with config.yaml, metrics.json, predictions.parquet, history.csv and
    backtest/{summary.json, equity, positions, trades}.parquet; returns the run dir."""
    rng = np.random.default_rng(seed + 1)
    data_dir = data_dir or Path(root).parent / "data" / f"panel_{stocks}_{days}_{seed}"
    write_panel(data_dir, stocks, days, seed)
    panel = pl.read_parquet(data_dir / "panel.parquet")
    dates = panel["date"].unique().sort().to_list()
    symbols = sorted(panel["symbol"].unique().to_list())
    close = panel.pivot(on="symbol", index="date", values="close").sort("date").select(symbols).to_numpy()
    label = _labels(close)
    t_test = int(days * 0.75)
    t_val = int(days * 0.6)
    noise = rng.normal(0, 0.02, size=close.shape)
    score = skill * np.nan_to_num(label) + noise
    prob = 1 / (1 + np.exp(-score / 0.02))

    run = Path(root) / name
    (run / "backtest").mkdir(parents=True, exist_ok=True)
    cfg = config_from_dict(
        {
            "name": name,
            "seed": seed,
            "data": {"path": str(data_dir)},
            "model": {"name": model},
            "backtest": {"topk": topk, "n_drop": 1},
        }
    )
    write_text(run / "config.yaml", cfg.to_yaml())

    test_rows = range(t_test, days)
    pred = pl.DataFrame(
        {
            "date": [dates[t] for t in test_rows for _ in symbols],
            "symbol": symbols * len(test_rows),
            "score": score[t_test:].ravel(),
            "pred_return": score[t_test:].ravel(),
            "prob_up": prob[t_test:].ravel(),
        }
    )
    write_parquet(run / "predictions.parquet", pred)

    def split_metrics(lo: int, hi: int) -> dict:
        mask = np.isfinite(label[lo:hi])
        return prediction_metrics(score[lo:hi], label[lo:hi], mask, prob_up=prob[lo:hi], topk=topk)

    metrics = {
        "test": split_metrics(t_test, days),
        "validation": split_metrics(t_val, t_test),
        "trade_output": "regression",
        "epochs": 12,
        "best_epoch": 9,
        "train_seconds": 42.5,
        "parameters": 123456,
        "device": "cpu",
        "model": model,
        "seed": seed,
        "data": {
            "path": str(data_dir), "stocks": stocks, "days": days,
            "start": dates[0].isoformat(), "end": dates[-1].isoformat(),
            "test_start": dates[t_test].isoformat(), "test_end": dates[-1].isoformat(),
            "features": 360,
        },
        "windows": [],
    }
    write_json(run / "metrics.json", metrics)
    history = pl.DataFrame(
        {"epoch": list(range(1, 13)), "train_loss": np.linspace(1.0, 0.5, 12), "val_rank_ic": np.linspace(0, 0.05, 12)}
    )
    write_text(run / "history.csv", history.write_csv())
    _write_backtest(run / "backtest", cfg, dates, symbols, close, score, t_test)
    return run


def _write_backtest(out: Path, cfg: Config, dates, symbols, close, score, t_test: int) -> None:
    """Equal-weight daily top-k: signal at t, filled at the close of t+1, held to t+2."""
    topk, cash = cfg.backtest.topk, cfg.backtest.initial_cash
    daily = close[1:] / close[:-1] - 1.0  # return from t to t+1, at row t+1
    strat, bench, pos_rows, trade_rows = [1.0], [1.0], [], []
    prev: set[int] = set()
    value = cash
    cost_paid = 0.0
    for t in range(t_test, len(dates) - 2):
        picks = set(np.argsort(-score[t])[:topk].tolist())
        d_fill = dates[t + 1]
        per = value / topk
        for i in sorted(picks - prev) + sorted(prev - picks):
            side = "buy" if i in picks else "sell"
            price = float(close[t + 1, i])
            commission = per * 0.0003
            stamp = per * 0.0005 if side == "sell" else 0.0
            trade_rows.append((d_fill, symbols[i], side, per / price, price, per, commission, stamp, per * 0.0005))
            cost_paid += commission + stamp + per * 0.0005
        for i in sorted(picks):
            pos_rows.append((d_fill, symbols[i], per / close[t + 1, i], 1.0 / topk, per))
        r = float(np.mean([daily[t + 1, i] for i in picks]))
        value *= 1 + r
        strat.append(strat[-1] * (1 + r))
        bench.append(bench[-1] * (1 + float(daily[t + 1].mean())))
        prev = picks
    eq_dates = [dates[t_test]] + [dates[t + 2] for t in range(t_test, len(dates) - 2)]
    strat_a, bench_a = np.array(strat), np.array(bench)
    write_parquet(
        out / "equity.parquet",
        pl.DataFrame({"date": eq_dates, "strategy": strat_a, "benchmark": bench_a, "excess": strat_a - bench_a}),
    )
    write_parquet(
        out / "positions.parquet",
        pl.DataFrame(pos_rows, schema=["date", "symbol", "shares", "weight", "value"], orient="row"),
    )
    write_parquet(
        out / "trades.parquet",
        pl.DataFrame(
            trade_rows,
            schema=["date", "symbol", "side", "shares", "price", "value", "commission", "stamp_duty", "slippage"],
            orient="row",
        ),
    )
    rets = strat_a[1:] / strat_a[:-1] - 1
    years = len(rets) / 252
    vol = float(rets.std(ddof=1) * np.sqrt(252))
    ann = float(strat_a[-1] ** (1 / years) - 1)
    summary = {
        "total_return": float(strat_a[-1] - 1),
        "annualized_return": ann,
        "annualized_return_arithmetic": float(rets.mean() * 252),
        "annualized_volatility": vol,
        "sharpe": float(rets.mean() / rets.std(ddof=1) * np.sqrt(252)),
        "max_drawdown": float((strat_a / np.maximum.accumulate(strat_a) - 1).min()),
        "information_ratio": 0.8,
        "excess_annualized_return": float(ann - (bench_a[-1] ** (1 / years) - 1)),
        "turnover": 0.2,
        "cost_paid": cost_paid,
        "win_rate": float((rets > 0).mean()),
        "prediction": {"ic": 0.05},
        "settings": cfg.backtest.model_dump(mode="json"),
    }
    write_json(out / "summary.json", summary)


def write_broken_run(root: Path, name: str, kind: str = "half") -> Path:
    """A run that cannot be shown: `half` (config only, training still going), `json`
    (corrupt metrics.json), `config` (config.yaml with an unknown key)."""
    run = Path(root) / name
    run.mkdir(parents=True, exist_ok=True)
    if kind == "config":
        write_text(run / "config.yaml", "model:\n  colour: blue\n")
        return run
    write_text(run / "config.yaml", Config().to_yaml())
    if kind == "json":
        (run / "metrics.json").write_text('{"test": {"ic": 0.1', encoding="utf-8")
    return run


def write_picks(
    folder: Path,
    day: date,
    *,
    cutoff: date | None = None,
    generated_at: datetime | None = None,
    rows: int = 10,
    run_id: str = "demo",
    manifest: bool = True,
) -> Path:
    """predictions/<day>.parquet plus a manifest row (the daily job's output contract)."""
    rng = np.random.default_rng(day.toordinal())
    score = np.sort(rng.normal(0, 1, rows))[::-1]
    frame = pl.DataFrame(
        {
            "rank": np.arange(1, rows + 1),
            "symbol": [f"S{i:03d}" for i in rng.permutation(rows)],
            "score": score,
            "pred_return": score * 0.01,
            "prob_up": 1 / (1 + np.exp(-score)),
            "target_weight": np.where(np.arange(rows) < 5, 0.2, 0.0),
            "order": np.where(np.arange(rows) < 5, "buy", "hold"),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = write_parquet(folder / f"{day.isoformat()}.parquet", frame)
    if manifest:
        cutoff = cutoff or day
        row = pl.DataFrame(
            {
                "date": [day], "run_id": [run_id], "model_hash": ["abc123"], "data_cutoff": [cutoff],
                "rows": [rows], "wall_seconds": [3.2], "status": ["ok"],
                "generated_at": [generated_at or datetime.combine(cutoff, datetime.min.time()) + timedelta(hours=17)],
            }
        )
        mpath = folder / "manifest.parquet"
        if mpath.is_file():
            row = pl.concat([pl.read_parquet(mpath), row], how="vertical_relaxed")
        write_parquet(mpath, row)
    return path


def summary_of(run: Path) -> dict:
    return json.loads((run / "backtest" / "summary.json").read_text())
