"""Ranking kernels and the one TopK-Dropout selection routine, shared by the backtest kernel
(backtest/kernel.py) and the daily job (jobs/strategy.py), so the two can never pick differently.

Ranking rule everywhere: higher score first, NaN last, ties by lower stock index (callers that
want ties broken by symbol pass the stocks in symbol order).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


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
def ranks_before(sa: float, a: int, sb: float, b: int) -> bool:
    """Stock a ranks before stock b: higher score, NaN last, ties by lower index."""
    fa = np.isfinite(sa)
    fb = np.isfinite(sb)
    if fa and fb:
        if sa != sb:
            return sa > sb
        return a < b
    if fa != fb:
        return fa
    return a < b


class DropoutPick(NamedTuple):
    """One day's TopK-Dropout decision, before execution."""

    sell: np.ndarray  # held stocks to sell, in rank order (best of them first)
    buy: np.ndarray  # non-held candidates, best first; buy the first topk - (held after sells)
    held: int  # how many stocks were held


@njit(cache=True)
def topk_dropout_pick(
    scores: np.ndarray, held: np.ndarray, cand: np.ndarray, topk: int, n_drop: int
) -> DropoutPick:
    """qlib's TopkDropoutStrategy (method_sell="bottom", method_buy="top") for one day.

    scores [N]; held [N]: a bool mask or the shares themselves (held where > 0, so the kernel
    passes its book without building a mask); cand: best-first stock indices (-1 pads,
    top_candidates' row) holding at least n_drop + topk names that are not held. Rank the
    holdings and the best non-held candidates together and sell the holdings among the n_drop
    worst of that list. How many candidates are bought is left to the caller: a sell can fail.
    """
    n = scores.shape[0]
    comb = np.empty(n, np.int64)  # holdings, then candidates: distinct stocks, so n is room enough
    h = 0
    for j in range(n):
        if held[j] > 0:
            comb[h] = j
            h += 1
    want = max(n_drop + topk - h, 0)
    c = h
    for q in range(cand.shape[0]):
        if c - h >= want:
            break
        j = cand[q]
        if j < 0:
            break
        if held[j] > 0:
            continue
        comb[c] = j
        c += 1
    buy = comb[h:c].copy()
    comb = comb[:c]
    for a in range(1, c):  # insertion sort, best first (a handful of names)
        x = comb[a]
        b = a
        while b > 0 and ranks_before(scores[x], x, scores[comb[b - 1]], comb[b - 1]):
            comb[b] = comb[b - 1]
            b -= 1
        comb[b] = x
    sell = np.empty(min(n_drop, c), np.int64)
    s = 0
    for a in range(max(0, c - n_drop), c):
        if held[comb[a]] > 0:
            sell[s] = comb[a]
            s += 1
    return DropoutPick(sell[:s], buy, h)
