"""Executing one order (the sell and buy kernels) and the trade log the fills go to.

Each kernel updates the stock's shares in place and returns a Fill: what was traded, at what price,
for which costs, and the cash left. A refused order (suspended, at a price limit, nothing to
trade, no cash) is a Fill with qty 0.0 and the cash unchanged.

Rounding rule (vectorbt's `add_nb`): cash left after a buy that is within 1e-9 (relative) of zero is
zero; the buy spent it all and the residual is booked as commission, so the ledger stays exact.
Without it, a partial fill leaves +-1e-10 of cash that buys "dust" (1e-11 shares) of the next name;
the dust shifts that name's order value and so the next day's order sequence, which is how the
equity curve drifted 1e-4 away from vectorbt's on long runs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from stockformer.backtest.costs import Fees, affordable_qty, commission

_REL = 1e-9  # vectorbt's closeness tolerance for "enough cash"


class Fill(NamedTuple):
    qty: float  # signed shares: + bought, - sold; 0.0 = nothing traded
    price: float  # executed price, slippage included
    commission: float
    stamp: float
    slippage: float  # cost of the slippage: shares x |executed - quoted price|
    cash: float  # cash after the order


class TradeLog(NamedTuple):
    """One entry per fill, in execution order (the arrays may be longer than the fills so far)."""

    day: np.ndarray  # simulation row
    symbol: np.ndarray  # stock index
    qty: np.ndarray  # signed: + buy, - sell
    price: np.ndarray  # executed price (slippage included)
    commission: np.ndarray
    stamp: np.ndarray
    slippage: np.ndarray


@njit(cache=True)
def _no_fill(cash: float) -> Fill:
    return Fill(0.0, 0.0, 0.0, 0.0, 0.0, cash)


@njit(cache=True)
def _adds_to_zero(a: float, b: float) -> bool:
    """a - b is rounding noise around zero (vectorbt's is_close with rel 1e-9, abs 1e-12)."""
    return abs(a - b) <= max(_REL * max(abs(a), abs(b)), 1e-12)


@njit(cache=True)
def sell(shares: np.ndarray, j: int, target: float, px: float, can: bool, stamp_rate: float,
         fees: Fees, cash: float) -> Fill:
    """Sell stock j down to `target` shares at quote px. Lots round the quantity down, except
    for a full close (target 0), which sells every share held."""
    delta = target - shares[j]
    if not delta < 0.0 or not can or abs(delta) <= 1e-12:
        return _no_fill(cash)
    qty = -delta
    if fees.lot > 0 and not (target == 0.0 and shares[j] > 0.0):
        qty = np.floor(qty / fees.lot) * fees.lot
    if qty <= 0.0:
        return _no_fill(cash)
    adj = px * (1.0 - fees.slip)
    proceeds = qty * adj
    comm = commission(fees.sell_rate, proceeds, fees.min_comm)
    duty = stamp_rate * proceeds
    cash = cash + (proceeds - comm - duty)
    shares[j] = shares[j] - qty
    if target == 0.0 and abs(shares[j]) <= 1e-9 * qty:
        shares[j] = 0.0
    return Fill(-qty, adj, comm, duty, qty * (px - adj), cash)


@njit(cache=True)
def buy(shares: np.ndarray, j: int, qty: float, px: float, can: bool, fees: Fees,
        cash: float) -> Fill:
    """Buy qty shares of stock j at quote px; a buy that needs more cash than is left is cut to
    what the cash pays for, fees included (vectorbt's partial fill)."""
    if not can or qty <= 0.0 or cash <= 0.0:
        return _no_fill(cash)
    adj = px * (1.0 + fees.slip)
    value = qty * adj
    comm = commission(fees.buy_rate, value, fees.min_comm)
    total = value + comm
    if total > cash and abs(total - cash) > _REL * max(abs(total), abs(cash)):
        qty = affordable_qty(cash, adj, fees.buy_rate, fees.min_comm, fees.lot)
        if qty <= 0.0:
            return _no_fill(cash)
        value = qty * adj
        comm = commission(fees.buy_rate, value, fees.min_comm)
        total = value + comm
    if _adds_to_zero(cash, total):  # spent it all: no dust cash for the next buy
        comm = comm + (cash - total)
        cash = 0.0
    else:
        cash = cash - total
    shares[j] = shares[j] + qty
    return Fill(qty, adj, comm, 0.0, qty * (adj - px), cash)


@njit(cache=True)
def buy_value(shares: np.ndarray, j: int, budget: float, px: float, can: bool, fees: Fees,
              cash: float) -> Fill:
    """Buy as many shares of stock j as `budget` (at most the cash left) pays for, fees included."""
    if not can:
        return _no_fill(cash)
    qty = affordable_qty(min(budget, cash), px * (1.0 + fees.slip), fees.buy_rate, fees.min_comm,
                         fees.lot)
    return buy(shares, j, qty, px, can, fees, cash)


@njit(cache=True)
def new_log(cap: int) -> TradeLog:
    return TradeLog(np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap),
                    np.empty(cap), np.empty(cap), np.empty(cap), np.empty(cap))


@njit(cache=True)
def _grow(a: np.ndarray, cap: int) -> np.ndarray:
    out = np.empty(cap, a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def reserve(log: TradeLog, need: int) -> TradeLog:
    """The log, with room for at least `need` entries (doubling, so appends stay amortised O(1))."""
    cap = log.day.shape[0]
    if need <= cap:
        return log
    cap = max(2 * cap, need)
    return TradeLog(_grow(log.day, cap), _grow(log.symbol, cap), _grow(log.qty, cap),
                    _grow(log.price, cap), _grow(log.commission, cap), _grow(log.stamp, cap),
                    _grow(log.slippage, cap))


@njit(cache=True)
def record(log: TradeLog, nt: int, day: int, j: int, fill: Fill) -> int:
    """Append a fill (if anything traded) at entry nt; returns the new entry count."""
    if fill.qty == 0.0:
        return nt
    log.day[nt] = day
    log.symbol[nt] = j
    log.qty[nt] = fill.qty
    log.price[nt] = fill.price
    log.commission[nt] = fill.commission
    log.stamp[nt] = fill.stamp
    log.slippage[nt] = fill.slippage
    return nt + 1


@njit(cache=True)
def trimmed(log: TradeLog, nt: int) -> TradeLog:
    """The first nt entries, as arrays of their own."""
    return TradeLog(log.day[:nt].copy(), log.symbol[:nt].copy(), log.qty[:nt].copy(),
                    log.price[:nt].copy(), log.commission[:nt].copy(), log.stamp[:nt].copy(),
                    log.slippage[:nt].copy())
