"""One stock of a run, for the drilldown page: its price, the strategy's trades in it
(entries, exits and the resizes in between) and its score history (pure functions)."""

from __future__ import annotations

import polars as pl

NO_MARKS = pl.DataFrame(schema={"date": pl.Date, "side": pl.Utf8, "shares": pl.Float64, "price": pl.Float64,
                                "held": pl.Float64, "kind": pl.Utf8})


def symbols_by_activity(predictions: pl.DataFrame, trades: pl.DataFrame | None) -> list[str]:
    """Every scored symbol: the most traded first (a drilldown with trades to show), then the
    never-traded ones alphabetically."""
    scored = set(predictions["symbol"].unique().to_list())
    counts: dict[str, int] = {}
    if trades is not None and trades.height:
        counts = dict(trades.group_by("symbol").len().iter_rows())
    return sorted(scored | set(counts), key=lambda s: (-counts.get(s, 0), s))


def trade_marks(trades: pl.DataFrame, positions: pl.DataFrame, symbol: str) -> pl.DataFrame:
    """The symbol's trades, oldest first, each with `held` (shares at that day's close, from
    positions) and `kind`: entry (bought from flat), exit (sold to flat), add or trim (a
    resize of an open position). Holdings change only through trades, so what was held
    before a trade is what was held after the symbol's previous one."""
    own = trades.filter(pl.col("symbol") == symbol).sort("date", maintain_order=True)
    held = positions.filter(pl.col("symbol") == symbol).group_by("date").agg(pl.sum("shares").alias("held"))
    marks = own.select("date", "side", "shares", "price").join(held, on="date", how="left", maintain_order="left")
    after = pl.col("held").fill_null(0.0) > 0
    before = after.shift(1).fill_null(False)
    kind = (
        pl.when(pl.col("side") == "buy").then(pl.when(before).then(pl.lit("add")).otherwise(pl.lit("entry")))
        .otherwise(pl.when(after).then(pl.lit("trim")).otherwise(pl.lit("exit")))
    )
    return marks.with_columns(pl.col("held").fill_null(0.0), kind.alias("kind"))


def score_history(predictions: pl.DataFrame, symbol: str) -> pl.DataFrame:
    """The symbol's score per day with its rank that day (1 = highest) among the stocks scored."""
    ranked = predictions.filter(pl.col("score").is_not_null() & pl.col("score").is_not_nan()).with_columns(
        pl.col("score").rank("min", descending=True).over("date").cast(pl.Int64).alias("rank"),
        pl.len().over("date").cast(pl.Int64).alias("stocks"),
    )
    return ranked.filter(pl.col("symbol") == symbol).select("date", "score", "rank", "stocks").sort("date")


def price_history(panel: pl.DataFrame, symbol: str, start, end) -> pl.DataFrame:
    """The symbol's close from `start` to `end` (the period the run scored and traded)."""
    return (
        panel.filter((pl.col("symbol") == symbol) & pl.col("date").is_between(start, end))
        .select("date", "close")
        .sort("date")
    )
