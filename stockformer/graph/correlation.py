"""Stock-to-stock similarity graphs: return correlation (training rows only) and industry."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

MIN_OVERLAP = 20  # common traded days below which a pair's correlation is treated as 0


def correlation_matrix(
    returns: np.ndarray, valid: np.ndarray, method: str = "spearman", min_overlap: int = MIN_OVERLAP
) -> np.ndarray:
    """Pairwise-complete Pearson (or Spearman: Pearson of each stock's time-series ranks over
    its own traded days) correlation [N, N] float64; 0 where the overlap is too short."""
    x = np.where(valid, returns.astype(np.float64), np.nan)
    if method == "spearman":
        x = rankdata(x, axis=0, nan_policy="omit")
    m = np.isfinite(x).astype(np.float64)
    x = np.where(m > 0, x, 0.0)
    n = m.T @ m
    sx = x.T @ m  # sx[i, j] = sum of x_i over days both i and j traded
    sxx = (x * x).T @ m
    sxy = x.T @ x
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = n * sxy - sx * sx.T
        var = (n * sxx - sx**2) * (n * sxx - sx**2).T
        corr = cov / np.sqrt(var)
    corr[(n < min_overlap) | ~np.isfinite(corr)] = 0.0
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)


def top_k_graph(weights: np.ndarray, k: int) -> np.ndarray:
    """Keep each node's k largest off-diagonal weights, symmetrised (union of both
    directions); others 0."""
    w = weights.copy()
    np.fill_diagonal(w, -np.inf)
    n = w.shape[0]
    k = min(k, n - 1)
    # stable order so ties resolve the same way every run
    idx = np.argsort(-w, axis=1, kind="stable")[:, :k]
    keep = np.zeros_like(w, dtype=bool)
    keep[np.repeat(np.arange(n), k), idx.ravel()] = True
    keep |= keep.T
    out = np.where(keep, weights, 0.0)
    np.fill_diagonal(out, 0.0)
    return out


def industry_adjacency(industries: list[str | None]) -> np.ndarray:
    """1 between two stocks of the same (known) industry, else 0."""
    lut = {name: i for i, name in enumerate(sorted({x for x in industries if x}))}
    codes = np.array([lut.get(x, -1) if x else -1 for x in industries], dtype=np.int64)
    known = np.array([bool(x) for x in industries])
    same = (codes[:, None] == codes[None, :]) & known[:, None] & known[None, :]
    np.fill_diagonal(same, False)
    return same.astype(np.float64)
