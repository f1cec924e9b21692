"""One day of the run's strategy: today's scores + yesterday's target -> today's target weights.

TopK-Dropout is the backtest's own selection routine (backtest/selection.py), so the job picks
exactly what the backtest would: rank yesterday's holdings and the best new candidates together,
sell the held stocks that fall into the bottom `n_drop` of that combined list, and buy as many
top-ranked new stocks as keep the book at `topk`. Stocks without a score today (suspended,
delisted, skipped) get no pick: they leave the target.
"""

from __future__ import annotations

import numpy as np

from stockformer.backtest.selection import top_candidates, topk_dropout_pick
from stockformer.backtest.strategy import long_short_weights, relative_weights, topk_weights
from stockformer.config import BacktestConfig


def topk_dropout_holdings(
    scores: dict[str, float], previous: list[str], topk: int, n_drop: int
) -> list[str]:
    """The stocks held after today's TopK-Dropout step (best score first, ties by symbol)."""
    syms = sorted(scores)  # index order = symbol order, so ties break by symbol
    row = np.array([scores[s] for s in syms], dtype=np.float64)
    before = set(previous)
    held = np.array([s in before for s in syms], dtype=bool) & np.isfinite(row)
    cand = top_candidates(row[None, :], int(held.sum()) + n_drop + topk)[0]
    pick = topk_dropout_pick(row, held, cand, topk, n_drop)
    held[pick.sell] = False  # the job's sells always fill: no limits or suspensions to refuse them
    n_buy = max(min(len(pick.buy), topk - int(held.sum())), 0)
    book = np.concatenate([np.flatnonzero(held), pick.buy[:n_buy]])
    return [syms[i] for i in sorted(book.tolist(), key=lambda i: (-row[i], i))]


def target_weights(
    symbols: list[str],
    scores: np.ndarray,
    previous: dict[str, float],
    cfg: BacktestConfig,
) -> np.ndarray:
    """Target weight per symbol (aligned with `symbols`) under the configured strategy.

    `previous` maps symbol -> yesterday's target weight (empty on the first day). Sizing follows
    the backtester (stockformer/backtest/strategy.py): equal weight is 1/topk per name (cash
    stays when fewer names qualify), score weight is the score above the day's lowest score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(symbols) == 0:
        return np.zeros(0, dtype=np.float64)
    row, day = scores[None, :], np.array([True])
    if cfg.strategy == "long_short":
        return np.nan_to_num(long_short_weights(row, day, cfg.quantiles)[0])
    if cfg.strategy == "topk":
        return np.nan_to_num(topk_weights(row, day, cfg.topk, cfg.weighting)[0])
    prev_long = [s for s, w in previous.items() if w > 0]
    held = topk_dropout_holdings(
        dict(zip(symbols, scores.tolist(), strict=True)), prev_long, cfg.topk, cfg.n_drop
    )
    weights = np.zeros(len(symbols), dtype=np.float64)
    if not held:
        return weights
    index = {s: i for i, s in enumerate(symbols)}
    pos = np.array([index[s] for s in held])
    rel = relative_weights(row, cfg.weighting)[0][pos]
    if cfg.weighting == "score" and rel.sum() > 0:
        weights[pos] = rel / rel.sum()
    else:
        weights[pos] = 1.0 / cfg.topk
    return weights
