"""Long panel -> dense [T, N] arrays on the panel's own calendar (all dates x all symbols).

A cell is `valid` when the stock has a row that day with a positive, finite close. Besides the
calendar-aligned arrays we keep each stock's *own trading history*: `rank[t, n]` counts the
stock's valid days up to t (minus one), and `compressed(x)[k, n]` is x on its k-th valid day.
"i rows back in the stock's own history" is then a gather at rank - i (qlib Ref semantics on the
stock's series, without the calendar's holes for suspended days).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from stockformer.errors import DataError

PRICE_FIELDS = ("open", "high", "low", "close")


@dataclass
class DensePanel:
    dates: np.ndarray  # datetime64[D] [T]
    symbols: list[str]  # [N]
    fields: dict[str, np.ndarray]  # float64 [T, N], NaN where unknown
    valid: np.ndarray  # bool [T, N]
    industry: np.ndarray | None = None  # int32 [T, N] codes, -1 unknown
    industry_names: list[str] = field(default_factory=list)
    report: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.valid.shape  # type: ignore[return-value]


def to_dense(panel: pl.DataFrame, source: str = "panel") -> DensePanel:
    """Scatter a long (date, symbol, ...) panel into dense [T, N] float64 arrays."""
    missing = [c for c in ("date", "symbol", *PRICE_FIELDS, "volume") if c not in panel.columns]
    if missing:
        raise DataError(f"{source}: missing columns {', '.join(missing)}")
    if panel.height == 0:
        raise DataError(f"{source}: the panel has no rows")
    date_col = pl.col("date")
    if panel.schema["date"] == pl.Utf8:
        date_col = date_col.str.to_date(strict=False)
    df = panel.with_columns(date_col.cast(pl.Date), pl.col("symbol").cast(pl.Utf8))
    if df["date"].null_count():
        raise DataError(f"{source}: {df['date'].null_count()} rows without a readable date")
    dates = df["date"].unique().sort().to_numpy().astype("datetime64[D]")
    symbols = df["symbol"].unique().sort().to_list()
    t, n = len(dates), len(symbols)
    di = np.searchsorted(dates, df["date"].to_numpy().astype("datetime64[D]"))
    sym_index = pl.DataFrame({"symbol": symbols, "_si": np.arange(n, dtype=np.int64)})
    si = df.select("symbol").join(sym_index, on="symbol", how="left", maintain_order="left")[
        "_si"
    ].to_numpy()
    per_cell = np.bincount(di * n + si, minlength=t * n)
    if per_cell.max() > 1:
        cell = int(np.argmax(per_cell))
        raise DataError(f"{source}: duplicate (date, symbol) rows ({int((per_cell > 1).sum())} "
                        f"cells, e.g. {dates[cell // n]} {symbols[cell % n]})")

    def scatter(col: str) -> np.ndarray:
        out = np.full((t, n), np.nan)
        out[di, si] = df[col].cast(pl.Float64).fill_null(np.nan).to_numpy()
        return out

    numeric = ("open", "high", "low", "close", "volume", "vwap", "amount", "market_cap")
    fields = {c: scatter(c) for c in numeric if c in df.columns}
    close = fields["close"]
    valid = np.isfinite(close) & (close > 0)
    report: dict = {"rows": int(df.height), "dates": t, "symbols": n}
    # non-positive / non-finite prices on a traded day are data defects: treat as unknown
    bad = 0
    for c in ("open", "high", "low", "vwap"):
        if c in fields:
            x = fields[c]
            broken = valid & ~(np.isfinite(x) & (x > 0))
            bad += int(broken.sum())
            x[broken] = np.nan
    report["bad_price_cells"] = bad
    for c in fields.values():
        c[~valid] = np.nan
    for c in ("limit_up", "limit_down"):
        if c in df.columns:
            flag = np.zeros((t, n), dtype=bool)
            flag[di, si] = df[c].cast(pl.Boolean).fill_null(False).to_numpy()
            fields[c] = flag & valid  # type: ignore[assignment]
    industry, names = None, []
    if "industry" in df.columns:
        ind = df.select(pl.col("industry").cast(pl.Utf8))
        names = ind["industry"].drop_nulls().unique().sort().to_list()
        names = [x for x in names if x != ""]
        lut = pl.DataFrame({"industry": names, "_code": np.arange(len(names), dtype=np.int32)},
                           schema={"industry": pl.Utf8, "_code": pl.Int32})
        codes = ind.join(lut, on="industry", how="left", maintain_order="left")["_code"]
        industry = np.full((t, n), -1, dtype=np.int32)
        industry[di, si] = codes.fill_null(-1).to_numpy()
    return DensePanel(dates, symbols, fields, valid, industry, names, report)


def history_rank(valid: np.ndarray) -> np.ndarray:
    """rank[t, n] = number of valid days of stock n up to and including t, minus one."""
    return np.cumsum(valid, axis=0, dtype=np.int64) - 1


def compressed(x: np.ndarray, valid: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """x on each stock's k-th valid day: [T, N], NaN beyond the stock's last valid day."""
    out = np.full(x.shape, np.nan, dtype=x.dtype)
    tt, nn = np.nonzero(valid)
    out[rank[tt, nn], nn] = x[tt, nn]
    return out


def ffill(x: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along axis 0 (each column from its own past only)."""
    t = x.shape[0]
    idx = np.where(np.isfinite(x), np.arange(t)[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = np.take_along_axis(x, idx, axis=0)
    return out
