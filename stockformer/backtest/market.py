"""The panel as dense [days, stocks] arrays, and the per-day fill prices / tradability masks.

A missing (date, symbol) row means the stock was suspended that day: no price, no trade.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    is_st: np.ndarray | None = None  # bool [D, N]: special treatment (A-share 5% limit)
    _mark: np.ndarray | None = field(default=None, init=False, repr=False)

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.close)

    def mark(self) -> np.ndarray:
        """Close forward-filled over suspensions: the price a held, suspended stock is worth."""
        if self._mark is None:  # used by the fill rules and the simulation: compute once
            self._mark = ffill(self.close)
        return self._mark

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


def day_numbers(column: pl.Series) -> np.ndarray:
    """Days since 1970-01-01 (int64): integer codes instead of datetime comparisons."""
    return column.cast(pl.Date).to_physical().cast(pl.Int64).to_numpy()


def date_positions(days: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Row of each day number in the sorted day-number grid (-1 when absent), by a lookup table."""
    span = int(grid[-1] - grid[0]) + 1
    lut = np.full(span + 2, -1, np.int64)  # slots 0 and span + 1 catch days outside the grid
    lut[grid - grid[0] + 1] = np.arange(len(grid))
    return np.take(lut, np.clip(days - (grid[0] - 1), 0, span + 1))


def symbol_positions(column: pl.Series, symbols: list[str]) -> np.ndarray:
    """Position of each value in `symbols` (-1 when absent): an Enum cast, i.e. one hash lookup."""
    coded = column.cast(pl.Utf8).cast(pl.Enum(symbols), strict=False)
    return coded.to_physical().cast(pl.Int64).fill_null(-1).to_numpy()


def build_market(panel: pl.DataFrame, source: str = "panel") -> Market:
    missing = [c for c in ("date", "symbol", "open", "close") if c not in panel.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}")
    if panel.height == 0:
        raise DataError(f"{source}: no rows")
    days = day_numbers(panel["date"])
    first = int(days.min())
    grid = np.flatnonzero(np.bincount(days - first)) + first
    dates = grid.astype("datetime64[D]")
    symbols = panel["symbol"].cast(pl.Utf8).unique().sort().to_list()
    di = date_positions(days, grid)
    si = symbol_positions(panel["symbol"], symbols)
    flat = di * len(symbols) + si
    shape = (len(dates), len(symbols))

    def dense(col: str, fill, dtype) -> np.ndarray:
        out = np.full(shape, fill, dtype=dtype)
        out.reshape(-1)[flat] = panel[col].fill_null(fill).to_numpy().astype(dtype)
        return out

    close = dense("close", np.nan, np.float64)
    opn = dense("open", np.nan, np.float64)
    bad = ~(close.reshape(-1)[flat] > 0)
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
    st = dense("is_st", False, np.bool_) if "is_st" in panel.columns else None
    return Market(dates, symbols, opn, close, lu, ld, st)


@dataclass
class Fills:
    price: np.ndarray  # float64 [D, N] fill price, NaN where suspended
    can_buy: np.ndarray  # bool [D, N]
    can_sell: np.ndarray  # bool [D, N]


def fill_arrays(market: Market, fill: str, price_limit: float | np.ndarray) -> Fills:
    """Fill price per day and whether a buy / sell can execute at it.

    open: limit-up at the open = open >= prev_close * (1 + limit) - tick (limit-down mirrored);
    close: the panel's limit_up / limit_down flags, else the same rule on the close.
    price_limit: one fraction, or a [D, N] grid (costs.limit_grid: 5% on ST rows); 0 = no rule.
    """
    price = market.open if fill == "open" else market.close
    valid = np.isfinite(price)
    limit = np.broadcast_to(np.asarray(price_limit, dtype=np.float64), price.shape)
    up = np.zeros(price.shape, bool)
    down = np.zeros(price.shape, bool)
    if (limit > 0).any():
        prev = market.prev_close()
        with np.errstate(invalid="ignore"):
            rule_up = (price >= prev * (1 + limit) - TICK) & (limit > 0)
            rule_down = (price <= prev * (1 - limit) + TICK) & (limit > 0)
        if fill == "close" and market.limit_up is not None:
            up = market.limit_up & (limit > 0)
        else:
            up = rule_up
        if fill == "close" and market.limit_down is not None:
            down = market.limit_down & (limit > 0)
        else:
            down = rule_down
    return Fills(price=price, can_buy=valid & ~up, can_sell=valid & ~down)


def dense_columns(
    predictions: pl.DataFrame, market: Market, columns: tuple[str, ...] = ("score",)
) -> tuple[dict[str, np.ndarray], dict]:
    """Prediction columns on the panel grid [D, N] (NaN where none), placed with one set of
    integer codes; counts of rows that did not fit (unknown symbol, after the panel's end).
    Expects unique (date, symbol) rows (check_predictions); a duplicate would overwrite."""
    days = day_numbers(predictions["date"])
    grid = market.dates.astype(np.int64)
    di = date_positions(days, grid)
    si = symbol_positions(predictions["symbol"], market.symbols)
    on_grid = di >= 0
    after_end = days > grid[-1]
    off_calendar = ~on_grid & ~after_end
    if off_calendar.any():
        k = int(np.flatnonzero(off_calendar)[0])
        raise DataError(
            f"predictions: dates not in the panel ({int(off_calendar.sum())} rows, "
            f"e.g. {np.datetime64(int(days[k]), 'D')} {predictions['symbol'][k]})"
        )
    keep = on_grid & (si >= 0)
    flat = di[keep] * len(market.symbols) + si[keep]
    out = {}
    for col in columns:
        grid_values = np.full((len(market.dates), len(market.symbols)), np.nan)
        values = predictions[col].to_numpy().astype(np.float64)
        grid_values.reshape(-1)[flat] = values[keep]
        out[col] = grid_values
    info = {"unknown_symbol_rows": int((on_grid & (si < 0)).sum()), "after_panel_rows": int(after_end.sum())}
    return out, info


def dense_scores(
    predictions: pl.DataFrame, market: Market, column: str = "score"
) -> tuple[np.ndarray, dict]:
    """One prediction column on the panel grid [D, N] (NaN where none); see dense_columns."""
    grids, info = dense_columns(predictions, market, (column,))
    return grids[column], info
