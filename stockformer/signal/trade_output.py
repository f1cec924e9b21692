"""Which model output is traded: the regression score, the up-probability, or their blend.

The choice is made on validation data only (never test), by mean daily RankIC; an ensemble's
candidates are scored on its members' rank average, as it will trade them.
"""

from __future__ import annotations

import warnings

import numpy as np

from stockformer.signal.ensemble import combine
from stockformer.signal.metrics import daily_rank_ic

TRADE_OUTPUTS = ("regression", "classification", "blend")


def _standardize_rows(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Cross-sectional z-score per row over valid cells (for blending two scores)."""
    out = np.where(valid, x, np.nan).astype(np.float64)
    with warnings.catch_warnings():  # a day with no valid stock is all-NaN: fine, zeroed below
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(out, axis=1, keepdims=True)
        std = np.nanstd(out, axis=1, keepdims=True)
    std[~np.isfinite(std) | (std == 0)] = 1.0
    return np.nan_to_num((out - mean) / std)


def trade_score(output: str, pred: np.ndarray, prob: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The score traded under `output` (regression, classification or their blend)."""
    if output == "regression":
        return pred
    if output == "classification":
        return prob
    return _standardize_rows(pred, valid) + _standardize_rows(prob, valid)


def candidate_scores(pred: np.ndarray, prob: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
    return {name: trade_score(name, pred, prob, valid) for name in TRADE_OUTPUTS}


def ensemble_trade_score(output: str, preds: list[np.ndarray], probs: list[np.ndarray],
                         valid: np.ndarray) -> np.ndarray:
    """The ensemble's traded score: the rank average of each member's `trade_score` (a single
    member's score unchanged)."""
    return combine([trade_score(output, p, q, valid) for p, q in zip(preds, probs, strict=True)], valid)


def choose_trade_output(
    pred: np.ndarray | list[np.ndarray], prob: np.ndarray | list[np.ndarray], labels: np.ndarray,
    mask: np.ndarray, requested: str
) -> tuple[str, dict[str, float]]:
    """Pick the output to trade by validation RankIC (never by test). Returns (name, val scores).

    `pred` / `prob` may be lists, one per ensemble member: each candidate is then scored on
    the members' rank average (`ensemble_trade_score`)."""
    preds = pred if isinstance(pred, list) else [pred]
    probs = prob if isinstance(prob, list) else [prob]
    scores = {}
    for name in TRADE_OUTPUTS:
        s = ensemble_trade_score(name, preds, probs, mask)
        ric = daily_rank_ic(s, labels, mask)
        scores[name] = float(np.nanmean(ric)) if np.isfinite(ric).any() else float("nan")
    if requested != "auto":
        return requested, scores
    finite = {k: v for k, v in scores.items() if np.isfinite(v)}
    return (max(finite, key=finite.get) if finite else "regression"), scores
