"""Laplacian eigenmap embedding: the smallest non-trivial eigenvectors of the normalised
Laplacian of the (non-negative part of the) graph. Fast and deterministic."""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh


def spectral_embedding(adjacency: np.ndarray, dim: int) -> np.ndarray:
    a = np.maximum(adjacency, 0.0)
    a = 0.5 * (a + a.T)
    np.fill_diagonal(a, 0.0)
    n = a.shape[0]
    deg = a.sum(1)
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)), 0.0)
    lap = np.eye(n) - inv[:, None] * a * inv[None, :]
    k = min(dim + 1, n)
    _, vec = eigh(lap, subset_by_index=[0, k - 1])
    vec = vec[:, 1:]  # drop the trivial eigenvector
    # deterministic sign: the largest-magnitude entry of each vector is positive
    flip = np.sign(vec[np.argmax(np.abs(vec), axis=0), np.arange(vec.shape[1])])
    vec = vec * np.where(flip == 0, 1.0, flip)
    out = np.zeros((n, dim), dtype=np.float32)
    out[:, : vec.shape[1]] = vec * np.sqrt(n)  # unit scale per entry on average
    return out
