"""The calendar graph's spectral embedding: true eigenvectors, and the same table on every
machine (a numerical eigensolver's basis inside the graph's double eigenvalues changed with the
BLAS thread count, so a Ray worker trained a different model from the same seed)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from stockformer.model.time_embedding import (
    NODES,
    SPECTRAL_DIM,
    calendar_adjacency,
    calendar_spectral_embedding,
)


def test_columns_are_the_laplacians_lowest_nontrivial_eigenvectors():
    adj = calendar_adjacency()
    deg = adj.sum(1)
    lap = np.eye(NODES) - adj / np.sqrt(np.outer(deg, deg))
    emb = calendar_spectral_embedding(SPECTRAL_DIM).astype(np.float64)
    assert emb.shape == (NODES, SPECTRAL_DIM)
    values = np.sort(np.linalg.eigvalsh(lap))[1 : SPECTRAL_DIM + 1]
    rayleigh = np.einsum("ij,ik,kj->j", emb, lap, emb) / NODES
    np.testing.assert_allclose(lap @ emb, emb * rayleigh, atol=1e-5)  # each column: L v = lambda v
    np.testing.assert_allclose(np.sort(rayleigh), values, atol=1e-6)  # the dim lowest after 0
    np.testing.assert_allclose(emb.T @ emb / NODES, np.eye(SPECTRAL_DIM), atol=1e-5)


PROBE = ("import hashlib; from stockformer.model.time_embedding import TimeEmbedding; "
         "t = TimeEmbedding('calendar_graph', 8).nodes.weight.detach().numpy(); "
         "print(hashlib.sha256(t.tobytes()).hexdigest())")


def _table_hash(threads: int) -> str:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         check=True, timeout=300)
    return out.stdout.strip()


def test_the_table_does_not_depend_on_the_blas_thread_count():
    assert _table_hash(1) == _table_hash(2)
