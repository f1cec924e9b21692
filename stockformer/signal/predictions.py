"""The predictions contract: the long table every stage hands on and reads back.

One row per (date, symbol): `score` (the traded ranking) and, from our own models, `pred_return`
and `prob_up`. Training writes it, the backtest, `evaluate`, the daily job's checks and the
dashboard read it; readers of other tools' layouts (qlib pred.pkl, wide tables) turn theirs into
this form first (backtest/predictions.py).
"""

from __future__ import annotations

import polars as pl

from stockformer.errors import DataError

REQUIRED = ("date", "symbol", "score")
OPTIONAL = ("pred_return", "prob_up")
PREDICTION_COLUMNS = REQUIRED + OPTIONAL


def check_predictions(frame: pl.DataFrame, source: str = "predictions") -> pl.DataFrame:
    """Types, required columns, no duplicate (date, symbol); sorted by (date, symbol)."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}")
    try:
        cols = [
            pl.col("date").cast(pl.Date),
            pl.col("symbol").cast(pl.Utf8),
            pl.col("score").cast(pl.Float64),
        ] + [pl.col(c).cast(pl.Float64) for c in OPTIONAL if c in frame.columns]
        out = frame.select(cols)
        # an optional column without one number (an empty prob_up) is as good as absent
        out = out.drop([c for c in OPTIONAL if c in out.columns and not out[c].is_finite().any()])
    except Exception as err:
        raise DataError(f"{source}: column types not usable ({type(err).__name__})") from None
    nulls = out.filter(pl.col("date").is_null() | pl.col("symbol").is_null())
    if nulls.height:
        raise DataError(f"{source}: empty date or symbol ({nulls.height} rows)")
    if out.height == 0:
        raise DataError(f"{source}: no prediction rows")
    out = out.sort("date", "symbol")
    # sorted, a duplicate sits next to its twin: a shifted comparison, not a hash of every row
    twin = (pl.col("date") == pl.col("date").shift(1)) & (pl.col("symbol") == pl.col("symbol").shift(1))
    dup = out.filter(twin | twin.shift(-1))
    if dup.height:
        row = dup.row(0, named=True)
        raise DataError(
            f"{source}: duplicate (date, symbol) ({dup.height} rows, e.g. {row['date']} {row['symbol']})"
        )
    return out
