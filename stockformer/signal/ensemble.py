"""Seed ensembles: K members trained with seeds seed, seed+1, ..., their scores rank-averaged.

Run-directory layout (the contract with the daily job and the dashboard): member 0 is the run
itself (`model.pt`, `checkpoint.pt`, `history.csv` at the top, as for a single model); member
k >= 1 lives in `ensemble/m<k>/` (`model.pt`, `checkpoint.pt`, `history.csv`). The graph is
shared (`graph.npz`, fitted with the run's seed). How many members a run has comes from its
config (`train.ensemble`, see `ensemble_size`), never from what happens to lie on disk.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

ENSEMBLE_DIR = "ensemble"
# non-learned references: the same numbers for any seed, so they are one member whatever K is
SEEDLESS_MODELS = ("momentum", "reversal")


def ensemble_size(cfg) -> int:
    """Members a run of `cfg` has: train.ensemble, or 1 for the seedless references."""
    return 1 if cfg.model.name in SEEDLESS_MODELS else int(cfg.train.ensemble)


def member_dir(run_dir: str | Path, k: int) -> Path:
    """Where member k writes its model, checkpoint and history (member 0: the run dir)."""
    run_dir = Path(run_dir)
    return run_dir if k == 0 else run_dir / ENSEMBLE_DIR / f"m{k}"


def member_model_paths(run_dir: str | Path, members: int) -> list[Path]:
    """The weights files of a run's `members` members, member 0 first."""
    return [member_dir(run_dir, k) / "model.pt" for k in range(members)]


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
