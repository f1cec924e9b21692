"""Seed ensembles' outputs combined into one signal: K members trained with seeds seed, seed+1,
..., their traded scores rank-averaged, their raw outputs (pred_return, prob_up) averaged.
Where the members' files live in a run directory is stockformer.rundir' business.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import rankdata


def rank_average(scores: list[np.ndarray], valid: np.ndarray) -> np.ndarray:
    """Mean over members of each day's (row's) normalized rank, [A, N] float64.

    A member's cell is ranked among that row's valid cells with a finite score, ties averaged,
    as (rank - 0.5) / n in (0, 1). A cell that is invalid, or not finite for some member, is
    NaN (no score: the predictions table and every metric skip it)."""
    if not scores:
        raise ValueError("rank_average needs at least one member")
    valid = np.asarray(valid, dtype=bool)
    ranks = []
    for s in scores:
        s = np.asarray(s, dtype=np.float64)
        if s.shape != valid.shape:
            raise ValueError(f"member score shape {s.shape} != valid shape {valid.shape}")
        x = np.where(valid & np.isfinite(s), s, np.nan)
        n = np.isfinite(x).sum(axis=1, keepdims=True)
        with warnings.catch_warnings():  # a row without any ranked cell: all NaN, fine
            warnings.simplefilter("ignore", RuntimeWarning)
            r = rankdata(x, axis=1, nan_policy="omit")
            ranks.append((r - 0.5) / np.where(n > 0, n, 1))
    return np.mean(ranks, axis=0)


def combine(scores: list[np.ndarray], valid: np.ndarray) -> np.ndarray:
    """The ensemble's score: one member's score unchanged, or the members' rank average."""
    return scores[0] if len(scores) == 1 else rank_average(scores, valid)


def mean_output(arrays: list[np.ndarray]) -> np.ndarray:
    """The members' mean of a raw output (pred_return, prob_up); one member unchanged."""
    return arrays[0] if len(arrays) == 1 else np.mean(np.stack(arrays), axis=0)
