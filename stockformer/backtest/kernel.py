"""The simulation kernel: one numba loop over days; each trading day runs its strategy's day
function, which places orders through the sell and buy kernels (backtest/orders.py) priced by the
cost formulas (backtest/costs.py).

Two strategies share the execution rules (suspension, price limits, lots, fees):
- MODE_TARGET (`target_day`): trade every stock with a finite target weight to weight x portfolio
  value (valued at today's fill prices) / fill price; sells first, then buys, each side in
  ascending order of order value (vectorbt's `call_seq='auto'`).
- MODE_DROPOUT (`dropout_day`): qlib's TopK-Dropout (backtest/selection.py picks), then buy as
  many of the best non-held names as were actually sold (plus free slots up to topk), splitting
  the cash after sells.

A new path-dependent strategy is one more day function with the same arguments and results,
its inputs in Signal, and a branch in `simulate` (numba cannot cache a kernel that takes a
function argument, so strategies are chosen by mode, not passed in).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from stockformer.backtest.costs import Fees
from stockformer.backtest.orders import (
    TradeLog,
    buy,
    buy_value,
    new_log,
    record,
    reserve,
    sell,
    trimmed,
)
from stockformer.backtest.selection import topk_dropout_pick

MODE_TARGET = 0
MODE_DROPOUT = 1


class Tape(NamedTuple):
    """The market as the kernel sees it, one row per simulated day."""

    price: np.ndarray  # [T, N] fill price, NaN = suspended
    mark: np.ndarray  # [T, N] close for end-of-day valuation, forward-filled
    can_buy: np.ndarray  # [T, N] bool
    can_sell: np.ndarray  # [T, N] bool
    trade_day: np.ndarray  # [T] bool: a rebalance fills on this day
    stamp: np.ndarray  # [T] stamp-duty rate on sells


class Signal(NamedTuple):
    """The strategy and what it reads (fields of the other strategies are unused placeholders)."""

    mode: int
    weights: np.ndarray  # [T, N] target weights (MODE_TARGET), NaN = no order
    cand: np.ndarray  # [T, M] best-first candidate indices (MODE_DROPOUT)
    scores: np.ndarray  # [T, N] the signal behind day t's fill (MODE_DROPOUT ranking)
    buy_weight: np.ndarray  # [T, N] relative buy weights (MODE_DROPOUT)
    topk: int
    n_drop: int


class SimResult(NamedTuple):
    positions: np.ndarray  # [T, N] shares after each day's trades
    cash: np.ndarray  # [T] cash after each day's trades
    value: np.ndarray  # [T] portfolio value at each day's mark
    trades: TradeLog  # every fill, in execution order


@njit(cache=True)
def target_day(f: int, tape: Tape, sig: Signal, fees: Fees, shares: np.ndarray,
               val_price: np.ndarray, cash: float, log: TradeLog, nt: int) -> tuple[float, int]:
    """Trade toward day f's target weights; a buy that needs more cash than is left is cut to
    what the cash pays for (vectorbt's partial fill). Returns (cash, trade count)."""
    n = shares.shape[0]
    value_now = cash
    for j in range(n):
        if shares[j] != 0.0:
            value_now += shares[j] * val_price[j]
    idx = np.empty(n, np.int64)  # order k: stock idx[k], target shares otgt[k], sort key oval[k]
    otgt = np.empty(n)
    oval = np.empty(n)
    k_orders = 0
    if value_now > 0.0:
        for j in range(n):
            w = sig.weights[f, j]
            if np.isnan(w) or np.isnan(tape.price[f, j]):
                continue
            idx[k_orders] = j
            otgt[k_orders] = w * value_now / val_price[j]
            oval[k_orders] = w * value_now - shares[j] * val_price[j]
            k_orders += 1
    order = np.argsort(oval[:k_orders], kind="mergesort")
    for k in order:  # sells (orders that add to a position are skipped by `sell`)
        j = idx[k]
        fill = sell(shares, j, otgt[k], tape.price[f, j], tape.can_sell[f, j], tape.stamp[f],
                    fees, cash)
        cash = fill.cash
        nt = record(log, nt, f, j, fill)
    for k in order:  # buys
        j = idx[k]
        qty = otgt[k] - shares[j]
        if not qty > 0.0 or abs(qty) <= 1e-12:
            continue
        if fees.lot > 0:
            qty = np.floor(qty / fees.lot) * fees.lot
        fill = buy(shares, j, qty, tape.price[f, j], tape.can_buy[f, j], fees, cash)
        cash = fill.cash
        nt = record(log, nt, f, j, fill)
    return cash, nt


@njit(cache=True)
def dropout_day(f: int, tape: Tape, sig: Signal, fees: Fees, shares: np.ndarray,
                val_price: np.ndarray, cash: float, log: TradeLog, nt: int) -> tuple[float, int]:
    """TopK-Dropout on day f: sell the picked holdings, then split the cash over the best
    candidates that fit in the book. Returns (cash, trade count)."""
    pick = topk_dropout_pick(sig.scores[f], shares, sig.cand[f], sig.topk, sig.n_drop)
    held = pick.held
    for j in pick.sell:
        fill = sell(shares, j, 0.0, tape.price[f, j], tape.can_sell[f, j], tape.stamp[f], fees,
                    cash)
        cash = fill.cash
        nt = record(log, nt, f, j, fill)
        if fill.qty != 0.0:  # a full close leaves exactly 0 shares; a limit may refuse it
            held -= 1
    n_buy = max(min(pick.buy.shape[0], sig.topk - held), 0)
    budget_cash = cash
    wsum = 0.0
    for a in range(n_buy):
        wsum += sig.buy_weight[f, pick.buy[a]]
    for a in range(n_buy):
        j = pick.buy[a]
        budget = budget_cash * sig.buy_weight[f, j] / wsum if wsum > 0.0 else budget_cash / n_buy
        fill = buy_value(shares, j, budget, tape.price[f, j], tape.can_buy[f, j], fees, cash)
        cash = fill.cash
        nt = record(log, nt, f, j, fill)
    return cash, nt


@njit(cache=True)
def simulate(tape: Tape, sig: Signal, fees: Fees, init_cash: float) -> SimResult:
    t_len, n = tape.price.shape
    shares = np.zeros(n)
    val_price = np.full(n, np.nan)  # last fill price seen: values the book before the orders
    positions = np.zeros((t_len, n))
    cash_out = np.empty(t_len)
    value_out = np.empty(t_len)
    log = new_log(max(1024, 4 * t_len))
    nt = 0
    cash = init_cash
    for f in range(t_len):
        for j in range(n):
            if np.isfinite(tape.price[f, j]):
                val_price[j] = tape.price[f, j]
        if tape.trade_day[f]:
            log = reserve(log, nt + 2 * n)  # room for every order this day
            if sig.mode == MODE_TARGET:
                cash, nt = target_day(f, tape, sig, fees, shares, val_price, cash, log, nt)
            else:
                cash, nt = dropout_day(f, tape, sig, fees, shares, val_price, cash, log, nt)
        v = cash
        for j in range(n):
            if shares[j] != 0.0:
                v += shares[j] * tape.mark[f, j]
        positions[f] = shares
        cash_out[f] = cash
        value_out[f] = v
    return SimResult(positions, cash_out, value_out, trimmed(log, nt))
