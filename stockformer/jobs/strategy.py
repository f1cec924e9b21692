"""One day of the run's strategy: today's scores + yesterday's target -> today's target weights.

Follows qlib's TopkDropoutStrategy (method_sell="bottom", method_buy="top"): rank yesterday's
holdings and the best new candidates together, sell the held stocks that fall into the bottom
`n_drop` of that combined list, and buy as many top-ranked new stocks as keep the book at `topk`.
Stocks without a score today (suspended, delisted, skipped) get no pick: they leave the target.
"""

from __future__ import annotations

import numpy as np

from stockformer.config import BacktestConfig


def _order(symbols: list[str], scores: np.ndarray) -> list[str]:
    """Symbols by score, best first; ties broken by symbol so the result is deterministic."""
    idx = sorted(range(len(symbols)), key=lambda i: (-float(scores[i]), symbols[i]))
    return [symbols[i] for i in idx]


def topk_dropout_holdings(
    scores: dict[str, float], previous: list[str], topk: int, n_drop: int
) -> list[str]:
    """The stocks held after today's TopK-Dropout step (best score first)."""
    syms = list(scores)
    ranked = _order(syms, np.array([scores[s] for s in syms], dtype=np.float64))
    last = [s for s in ranked if s in set(previous)]  # held stocks that still have a score
    held = set(last)
    # candidates not held, enough to refill the book after dropping n_drop
    n_new = max(n_drop + topk - len(last), 0)
    today = [s for s in ranked if s not in held][:n_new]
    pos = {s: i for i, s in enumerate(ranked)}
    comb = sorted(last + today, key=pos.__getitem__)
    bottom = set(comb[-n_drop:]) if n_drop > 0 else set()
    sell = [s for s in last if s in bottom]
    n_buy = len(sell) + topk - len(last)
    buy = today[: max(n_buy, 0)]
    keep = [s for s in last if s not in set(sell)]
    return sorted(keep + buy, key=pos.__getitem__)


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
    from stockformer.backtest.strategy import long_short_weights, relative_weights, topk_weights

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
