"""The daily predictions file: ranked picks, target weights and orders versus the previous day.

predictions/<date>.parquet and <date>.csv hold only what the inputs determine (no timestamps),
so re-running a date on the same data and the same previous target gives the same bytes.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from stockformer.io import atomic_write

_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.parquet$")

COLUMNS = (
    "date", "rank", "symbol", "score", "pred_return", "prob_up",
    "target_weight", "order", "weight_change",
)


def prediction_path(out_dir: str | Path, day: date) -> Path:
    return Path(out_dir) / f"{day.isoformat()}.parquet"


def previous_target(out_dir: str | Path, day: date) -> tuple[date | None, dict[str, float]]:
    """The latest predictions file strictly before `day`: (its date, symbol -> target weight)."""
    days = []
    out = Path(out_dir)
    if out.is_dir():
        for p in out.iterdir():
            m = _DAY_FILE.match(p.name)
            if m and date.fromisoformat(m.group(1)) < day:
                days.append(date.fromisoformat(m.group(1)))
    if not days:
        return None, {}
    prev = max(days)
    frame = pl.read_parquet(prediction_path(out, prev), columns=["symbol", "target_weight"])
    frame = frame.filter(pl.col("target_weight") != 0)
    return prev, dict(zip(frame["symbol"].to_list(), frame["target_weight"].to_list(), strict=True))


def _order_label(new: float, old: float) -> str:
    if new != 0 and old == 0:
        return "buy"
    if new == 0 and old != 0:
        return "sell"
    if new != 0:
        return "hold"
    return "none"


def build_table(
    day: date,
    symbols: list[str],
    score: np.ndarray,
    pred_return: np.ndarray,
    prob_up: np.ndarray,
    weights: np.ndarray,
    previous: dict[str, float],
) -> pl.DataFrame:
    """One row per scored stock (best first), then previously held stocks that lost their score."""
    order = sorted(range(len(symbols)), key=lambda i: (-float(score[i]), symbols[i]))
    rows_sym = [symbols[i] for i in order]
    new_w = [float(weights[i]) for i in order]
    old_w = [float(previous.get(s, 0.0)) for s in rows_sym]
    gone = sorted(set(previous) - set(symbols))  # held yesterday, no score today: sold
    n = len(order)
    frame = pl.DataFrame(
        {
            "date": [day] * (n + len(gone)),
            "rank": list(range(1, n + 1)) + [None] * len(gone),
            "symbol": rows_sym + gone,
            "score": [float(score[i]) for i in order] + [None] * len(gone),
            "pred_return": [float(pred_return[i]) for i in order] + [None] * len(gone),
            "prob_up": [float(prob_up[i]) for i in order] + [None] * len(gone),
            "target_weight": new_w + [0.0] * len(gone),
            "order": [_order_label(a, b) for a, b in zip(new_w, old_w, strict=True)]
            + ["sell"] * len(gone),
            "weight_change": [a - b for a, b in zip(new_w, old_w, strict=True)]
            + [-float(previous[s]) for s in gone],
        },
        schema={
            "date": pl.Date(), "rank": pl.Int64(), "symbol": pl.Utf8(), "score": pl.Float64(),
            "pred_return": pl.Float64(), "prob_up": pl.Float64(), "target_weight": pl.Float64(),
            "order": pl.Utf8(), "weight_change": pl.Float64(),
        },
    )
    return frame


def write_outputs(out_dir: str | Path, day: date, table: pl.DataFrame) -> tuple[Path, Path]:
    """Write <date>.csv then <date>.parquet, each atomically (parquet last: it marks 'done')."""
    parquet = prediction_path(out_dir, day)
    csv = parquet.with_suffix(".csv")
    atomic_write(csv, lambda p: table.write_csv(p))
    # statistics off: the bytes then depend on the values only, across polars patch releases
    atomic_write(parquet, lambda p: table.write_parquet(p, compression="zstd", statistics=False))
    return parquet, csv
