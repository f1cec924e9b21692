"""The simulation kernel: one numba loop over days, vectorised work over stocks inside.

Two sizing modes share the execution rules (suspension, price limits, lots, fees):
- MODE_TARGET: trade every stock with a finite target weight to weight x portfolio value (valued at
  today's fill prices) / fill price; sells first, then buys, each side in ascending order of order
  value (vectorbt's `call_seq='auto'`); a buy that needs more cash than is left is cut to what the
  cash pays for, fees included (vectorbt's partial fill).
- MODE_DROPOUT: qlib's TopK-Dropout: rank holdings + the best non-held candidates, sell the
  holdings among the n_drop worst of that combined list, then buy as many of the best non-held
  names as were actually sold (plus free slots up to topk), splitting the cash after sells.

Rounding rule (vectorbt's `add_nb`): cash left after a buy that is within 1e-9 (relative) of zero is
zero; the buy spent it all and the residual is booked as commission, so the ledger stays exact.
Without it, a partial fill leaves +-1e-10 of cash that buys "dust" (1e-11 shares) of the next name;
the dust shifts that name's order value and so the next day's order sequence, which is how the
equity curve drifted 1e-4 away from vectorbt's on long runs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

MODE_TARGET = 0
MODE_DROPOUT = 1
_REL = 1e-9  # vectorbt's closeness tolerance for "enough cash"


@njit(cache=True)
def top_candidates(scores: np.ndarray, m: int) -> np.ndarray:
    """Per row, the indices of the m best finite scores, best first (ties: lower index); -1 pads."""
    t_len, n = scores.shape
    out = np.full((t_len, m), -1, np.int64)
    vals = np.empty(m)
    for t in range(t_len):
        cnt = 0
        for j in range(n):
            s = scores[t, j]
            if not np.isfinite(s):
                continue
            if cnt < m:
                pos = cnt
                cnt += 1
            elif s > vals[m - 1]:
                pos = m - 1
            else:
                continue
            while pos > 0 and vals[pos - 1] < s:
                vals[pos] = vals[pos - 1]
                out[t, pos] = out[t, pos - 1]
                pos -= 1
            vals[pos] = s
            out[t, pos] = j
    return out


@njit(cache=True)
def _better(sa: float, a: int, sb: float, b: int) -> bool:
    """a ranks before b: higher score, NaN last, ties by lower index."""
    fa = np.isfinite(sa)
    fb = np.isfinite(sb)
    if fa and fb:
        if sa != sb:
            return sa > sb
        return a < b
    if fa != fb:
        return fa
    return a < b


@njit(cache=True)
def _buy_qty_for_cash(cash: float, adj: float, rate: float, min_comm: float, lot: int) -> float:
    """Most shares whose value plus commission fits in `cash`."""
    q = cash / (adj * (1.0 + rate))
    if min_comm > 0.0:
        q = min(q, (cash - min_comm) / adj)
    if lot > 0:
        q = np.floor(q / lot) * lot
    return max(q, 0.0)


@njit(cache=True)
def _adds_to_zero(a: float, b: float) -> bool:
    """a - b is rounding noise around zero (vectorbt's is_close with rel 1e-9, abs 1e-12)."""
    return abs(a - b) <= max(_REL * max(abs(a), abs(b)), 1e-12)


@njit(cache=True)
def _grow(a: np.ndarray, cap: int) -> np.ndarray:
    out = np.empty(cap, a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def simulate(
    price: np.ndarray,  # [T, N] fill price, NaN = suspended
    mark: np.ndarray,  # [T, N] close for end-of-day valuation, forward-filled
    can_buy: np.ndarray,  # [T, N] bool
    can_sell: np.ndarray,  # [T, N] bool
    trade_day: np.ndarray,  # [T] bool: a rebalance fills on this day
    mode: int,
    weights: np.ndarray,  # [T, N] target weights (MODE_TARGET), NaN = no order
    cand: np.ndarray,  # [T, M] best-first candidate indices (MODE_DROPOUT)
    scores: np.ndarray,  # [T, N] the signal behind day t's fill (MODE_DROPOUT ranking)
    buy_weight: np.ndarray,  # [T, N] relative buy weights (MODE_DROPOUT)
    topk: int,
    n_drop: int,
    init_cash: float,
    buy_rate: float,
    sell_rate: float,
    min_comm: float,
    stamp: np.ndarray,  # [T] stamp-duty rate on sells
    slip: float,  # fraction: buys fill at price * (1 + slip), sells at price * (1 - slip)
    lot: int,  # 0 = fractional shares
):
    t_len, n = price.shape
    shares = np.zeros(n)
    val_price = np.full(n, np.nan)
    pos_out = np.zeros((t_len, n))
    cash_out = np.empty(t_len)
    value_out = np.empty(t_len)
    cap = max(1024, 4 * t_len)
    tr_day = np.empty(cap, np.int64)
    tr_sym = np.empty(cap, np.int64)
    tr_qty = np.empty(cap)  # signed: + buy, - sell
    tr_px = np.empty(cap)  # executed price (slippage included)
    tr_comm = np.empty(cap)
    tr_stamp = np.empty(cap)
    tr_slip = np.empty(cap)
    nt = 0
    cash = init_cash
    idx = np.empty(n, np.int64)
    sell_idx = np.empty(n, np.int64)
    oval = np.empty(n)
    otgt = np.empty(n)
    for f in range(t_len):
        for j in range(n):
            if np.isfinite(price[f, j]):
                val_price[j] = price[f, j]
        if trade_day[f]:
            if nt + 2 * n > cap:  # room for every order this day
                cap = max(2 * cap, nt + 2 * n)
                tr_day = _grow(tr_day, cap)
                tr_sym = _grow(tr_sym, cap)
                tr_qty = _grow(tr_qty, cap)
                tr_px = _grow(tr_px, cap)
                tr_comm = _grow(tr_comm, cap)
                tr_stamp = _grow(tr_stamp, cap)
                tr_slip = _grow(tr_slip, cap)
            # orders of the day: idx[k], target shares otgt[k] (for sells), sort key oval[k]
            k_orders = 0
            sells_only = 0
            if mode == MODE_TARGET:
                value_now = cash
                for j in range(n):
                    if shares[j] != 0.0:
                        value_now += shares[j] * val_price[j]
                if value_now > 0.0:
                    for j in range(n):
                        w = weights[f, j]
                        if np.isnan(w) or np.isnan(price[f, j]):
                            continue
                        idx[k_orders] = j
                        otgt[k_orders] = w * value_now / val_price[j]
                        oval[k_orders] = w * value_now - shares[j] * val_price[j]
                        k_orders += 1
                order = np.argsort(oval[:k_orders], kind="mergesort")
            else:
                # held names and the best non-held candidates, ranked together
                h = 0
                for j in range(n):
                    if shares[j] > 0.0:
                        idx[h] = j
                        h += 1
                want = n_drop + topk - h
                c = h
                for q in range(cand.shape[1]):
                    if want <= 0:
                        break
                    j = cand[f, q]
                    if j < 0:
                        break
                    if shares[j] > 0.0:
                        continue
                    idx[c] = j
                    c += 1
                    want -= 1
                comb = idx[:c].copy()
                for a in range(1, c):  # insertion sort, best first
                    x = comb[a]
                    b = a
                    while b > 0 and _better(scores[f, x], x, scores[f, comb[b - 1]], comb[b - 1]):
                        comb[b] = comb[b - 1]
                        b -= 1
                    comb[b] = x
                # sells: holdings among the n_drop worst of comb
                for a in range(max(0, c - n_drop), c):
                    j = comb[a]
                    if shares[j] > 0.0:
                        sell_idx[sells_only] = j
                        sells_only += 1
                # buys: candidates (positions h..c-1 of idx), best first
                k_orders = c - h
                for a in range(k_orders):
                    idx[a] = idx[h + a]
                order = np.arange(0)
            # ---- sells ----
            sold = 0
            n_sell_items = k_orders if mode == MODE_TARGET else sells_only
            for a in range(n_sell_items):
                if mode == MODE_TARGET:
                    k = order[a]
                    j = idx[k]
                    delta = otgt[k] - shares[j]
                    if not delta < 0.0:
                        continue
                    target = otgt[k]
                else:
                    j = sell_idx[a]
                    delta = -shares[j]
                    target = 0.0
                if not can_sell[f, j] or abs(delta) <= 1e-12:
                    continue
                qty = -delta
                if lot > 0 and not (target == 0.0 and shares[j] > 0.0):
                    qty = np.floor(qty / lot) * lot
                if qty <= 0.0:
                    continue
                px = price[f, j]
                adj = px * (1.0 - slip)
                proceeds = qty * adj
                comm = max(sell_rate * proceeds, min_comm)
                duty = stamp[f] * proceeds
                cash = cash + (proceeds - comm - duty)
                shares[j] = shares[j] - qty
                if target == 0.0 and abs(shares[j]) <= 1e-9 * qty:
                    shares[j] = 0.0
                tr_day[nt] = f
                tr_sym[nt] = j
                tr_qty[nt] = -qty
                tr_px[nt] = adj
                tr_comm[nt] = comm
                tr_stamp[nt] = duty
                tr_slip[nt] = qty * (px - adj)
                nt += 1
                sold += 1
            # ---- buys ----
            if mode == MODE_TARGET:
                n_buy = k_orders
                budget_cash = 0.0
                wsum = 0.0
            else:
                h_after = 0
                for j in range(n):
                    if shares[j] > 0.0:
                        h_after += 1
                n_buy = min(k_orders, topk - h_after)
                budget_cash = cash
                wsum = 0.0
                for a in range(max(n_buy, 0)):
                    wsum += buy_weight[f, idx[a]]
            for a in range(max(n_buy, 0)):
                if mode == MODE_TARGET:
                    k = order[a]
                    j = idx[k]
                    qty = otgt[k] - shares[j]
                    if not qty > 0.0 or abs(qty) <= 1e-12:
                        continue
                    if lot > 0:
                        qty = np.floor(qty / lot) * lot
                else:
                    j = idx[a]
                    if wsum > 0.0:
                        budget = budget_cash * buy_weight[f, j] / wsum
                    else:
                        budget = budget_cash / n_buy
                    if not can_buy[f, j]:
                        continue
                    qty = _buy_qty_for_cash(min(budget, cash), price[f, j] * (1.0 + slip),
                                            buy_rate, min_comm, lot)
                if not can_buy[f, j] or qty <= 0.0 or cash <= 0.0:
                    continue
                px = price[f, j]
                adj = px * (1.0 + slip)
                value = qty * adj
                comm = max(buy_rate * value, min_comm)
                total = value + comm
                if total > cash and abs(total - cash) > _REL * max(abs(total), abs(cash)):
                    qty = _buy_qty_for_cash(cash, adj, buy_rate, min_comm, lot)
                    if qty <= 0.0:
                        continue
                    value = qty * adj
                    comm = max(buy_rate * value, min_comm)
                    total = value + comm
                if _adds_to_zero(cash, total):  # spent it all: no dust cash for the next buy
                    comm = comm + (cash - total)
                    total = cash
                    cash = 0.0
                else:
                    cash = cash - total
                shares[j] = shares[j] + qty
                tr_day[nt] = f
                tr_sym[nt] = j
                tr_qty[nt] = qty
                tr_px[nt] = adj
                tr_comm[nt] = comm
                tr_stamp[nt] = 0.0
                tr_slip[nt] = qty * (adj - px)
                nt += 1
        v = cash
        for j in range(n):
            if shares[j] != 0.0:
                v += shares[j] * mark[f, j]
        pos_out[f] = shares
        cash_out[f] = cash
        value_out[f] = v
    return (
        pos_out,
        cash_out,
        value_out,
        tr_day[:nt].copy(),
        tr_sym[:nt].copy(),
        tr_qty[:nt].copy(),
        tr_px[:nt].copy(),
        tr_comm[:nt].copy(),
        tr_stamp[:nt].copy(),
        tr_slip[:nt].copy(),
    )
