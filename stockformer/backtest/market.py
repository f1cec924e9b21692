"""The panel as dense [days, stocks] arrays, and the per-day fill prices / tradability masks.

A missing (date, symbol) row means the stock was suspended that day: no price, no trade.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from stockformer.backtest.costs import TICK
from stockformer.errors import DataError


@dataclass
class Market:
    dates: np.ndarray  # datetime64[D] [D]
    symbols: list[str]  # [N]
    open: np.ndarray  # float64 [D, N], NaN where suspended
    close: np.ndarray  # float64 [D, N], NaN where suspended
    limit_up: np.ndarray | None  # bool [D, N]: closed locked at the upper limit (panel flag)
    limit_down: np.ndarray | None

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.close)

    def mark(self) -> np.ndarray:
        """Close forward-filled over suspensions: the price a held, suspended stock is worth."""
        return ffill(self.close)

    def prev_close(self) -> np.ndarray:
        out = np.full_like(self.close, np.nan)
        out[1:] = self.mark()[:-1]
        return out


def ffill(x: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs down axis 0 (vectorised through an index of the last valid row)."""
    ok = np.isfinite(x)
    idx = np.where(ok, np.arange(x.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = x[idx, np.arange(x.shape[1])[None, :]]
    out[~ok & ~np.maximum.accumulate(ok, axis=0)] = np.nan
    return out


def symbol_positions(column: pl.Series, symbols: list[str]) -> np.ndarray:
    """Position of each value in `symbols` (-1 when absent), without a Python loop over rows."""
    mapped = column.cast(pl.Utf8).replace_strict(
        symbols, list(range(len(symbols))), default=-1, return_dtype=pl.Int64
    )
    return mapped.to_numpy()


def build_market(panel: pl.DataFrame, source: str = "panel") -> Market:
    missing = [c for c in ("date", "symbol", "open", "close") if c not in panel.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}")
    if panel.height == 0:
        raise DataError(f"{source}: no rows")
    dates = np.unique(panel["date"].cast(pl.Date).to_numpy().astype("datetime64[D]"))
    symbols = sorted(panel["symbol"].cast(pl.Utf8).unique().to_list())
    di = np.searchsorted(dates, panel["date"].cast(pl.Date).to_numpy().astype("datetime64[D]"))
    si = symbol_positions(panel["symbol"], symbols)
    shape = (len(dates), len(symbols))

    def dense(col: str, fill, dtype) -> np.ndarray:
        out = np.full(shape, fill, dtype=dtype)
        out[di, si] = panel[col].fill_null(fill).to_numpy().astype(dtype)
        return out

    close = dense("close", np.nan, np.float64)
    opn = dense("open", np.nan, np.float64)
    bad = ~(close[di, si] > 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{source}: non-positive or missing close ({int(bad.sum())} rows, "
            f"e.g. {dates[di[k]]} {symbols[si[k]]})"
        )
    # an unusable open (0 / NaN in raw vendor data) falls back to the close of the same day
    opn = np.where(opn > 0, opn, close)
    lu = dense("limit_up", False, np.bool_) if "limit_up" in panel.columns else None
    ld = dense("limit_down", False, np.bool_) if "limit_down" in panel.columns else None
    return Market(dates, symbols, opn, close, lu, ld)


@dataclass
class Fills:
    price: np.ndarray  # float64 [D, N] fill price, NaN where suspended
    can_buy: np.ndarray  # bool [D, N]
    can_sell: np.ndarray  # bool [D, N]


def fill_arrays(market: Market, fill: str, price_limit: float) -> Fills:
    """Fill price per day and whether a buy / sell can execute at it.

    open: limit-up at the open = open >= prev_close * (1 + limit) - tick (limit-down mirrored);
    close: the panel's limit_up / limit_down flags, else the same rule on the close.
    price_limit == 0 switches the limit rule off.
    """
    price = market.open if fill == "open" else market.close
    valid = np.isfinite(price)
    up = np.zeros(price.shape, bool)
    down = np.zeros(price.shape, bool)
    if price_limit > 0:
        prev = market.prev_close()
        with np.errstate(invalid="ignore"):
            rule_up = price >= prev * (1 + price_limit) - TICK
            rule_down = price <= prev * (1 - price_limit) + TICK
        if fill == "close" and market.limit_up is not None:
            up = market.limit_up
        else:
            up = rule_up
        if fill == "close" and market.limit_down is not None:
            down = market.limit_down
        else:
            down = rule_down
    return Fills(price=price, can_buy=valid & ~up, can_sell=valid & ~down)


def dense_scores(
    predictions: pl.DataFrame, market: Market, column: str = "score"
) -> tuple[np.ndarray, dict]:
    """Predictions on the panel grid [D, N] (NaN where none); counts of rows that did not fit."""
    dates = predictions["date"].to_numpy().astype("datetime64[D]")
    si = symbol_positions(predictions["symbol"], market.symbols)
    di = np.searchsorted(market.dates, dates)
    di_c = np.minimum(di, len(market.dates) - 1)
    on_grid = (di < len(market.dates)) & (market.dates[di_c] == dates)
    after_end = dates > market.dates[-1]
    off_calendar = ~on_grid & ~after_end
    if off_calendar.any():
        k = int(np.flatnonzero(off_calendar)[0])
        raise DataError(
            f"predictions: dates not in the panel ({int(off_calendar.sum())} rows, "
            f"e.g. {dates[k]} {predictions['symbol'][k]})"
        )
    keep = on_grid & (si >= 0)
    out = np.full((len(market.dates), len(market.symbols)), np.nan)
    values = predictions[column].to_numpy().astype(np.float64)
    out[di[keep], si[keep]] = values[keep]
    return out, {"unknown_symbol_rows": int((on_grid & (si < 0)).sum()), "after_panel_rows": int(after_end.sum())}
