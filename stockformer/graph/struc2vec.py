"""Struc2Vec (Ribeiro et al., KDD 2017): embeddings from *structural* similarity.

1. For each node u and hop k, the ordered degree sequence of the nodes exactly k hops away.
2. f_k(u, v) = f_{k-1}(u, v) + DTW(seq_k(u), seq_k(v)), on run-length compressed sequences
   (degree, count) with cost (max(a, b) + 0.5) / (min(a, b) + 0.5) - 1 scaled by the larger
   count (the paper's OPT1). An empty ring counts as the sequence [(0, 1)].
3. A multi-layer context graph: layer k has weights exp(-f_k(u, v)); from layer k a walker goes
   up with weight log(Gamma_k(u) + e) (Gamma = edges heavier than the layer's mean), down with 1.
4. Biased walks: at each step stay in the layer with probability 0.3 and move to a neighbour,
   else change layer; then skip-gram on the walks.
All pairs are compared (O(N^2) DTWs), fine for the few hundred stocks of a universe like CSI 300.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from scipy.sparse.csgraph import shortest_path

from stockformer.graph.skipgram import train_skipgram

STAY_PROB = 0.3


def ring_sequences(adj: np.ndarray, max_layer: int) -> tuple[list[tuple], int]:
    """Per layer k: CSR (offsets [N+1], degrees, counts) of compressed ring degree sequences."""
    binary = (adj != 0).astype(np.float64)
    np.fill_diagonal(binary, 0)
    deg = binary.sum(1).astype(np.int64)
    dist = shortest_path(binary, method="D", unweighted=True)
    finite = dist[np.isfinite(dist)]
    layers = int(min(max_layer, finite.max() if finite.size else 0))
    out = []
    n = adj.shape[0]
    for k in range(layers + 1):
        offsets, degs, cnts = [0], [], []
        for u in range(n):
            ring = np.sort(deg[dist[u] == k])
            if ring.size == 0:
                vals, c = np.array([0]), np.array([1])
            else:
                vals, c = np.unique(ring, return_counts=True)
            degs.extend(vals.tolist())
            cnts.extend(c.tolist())
            offsets.append(len(degs))
        out.append((np.array(offsets, np.int64), np.array(degs, np.float64),
                    np.array(cnts, np.float64)))
    return out, layers


@nb.njit(cache=True)
def _dtw(da, ca, db, cb):  # pragma: no cover - compiled
    na, nb_ = da.shape[0], db.shape[0]
    d = np.full((na + 1, nb_ + 1), np.inf)
    d[0, 0] = 0.0
    for i in range(1, na + 1):
        for j in range(1, nb_ + 1):
            hi = max(da[i - 1], db[j - 1]) + 0.5
            lo = min(da[i - 1], db[j - 1]) + 0.5
            cost = (hi / lo - 1.0) * max(ca[i - 1], cb[j - 1])
            d[i, j] = cost + min(d[i - 1, j], d[i, j - 1], d[i - 1, j - 1])
    return d[na, nb_]


@nb.njit(parallel=True, cache=True)
def _layer_distances(offsets, degs, cnts, n):  # pragma: no cover - compiled
    out = np.zeros((n, n))
    for u in nb.prange(n):
        for v in range(u + 1, n):
            x = _dtw(degs[offsets[u]:offsets[u + 1]], cnts[offsets[u]:offsets[u + 1]],
                     degs[offsets[v]:offsets[v + 1]], cnts[offsets[v]:offsets[v + 1]])
            out[u, v] = x
            out[v, u] = x
    return out


def structural_distances(adj: np.ndarray, max_layer: int = 3) -> np.ndarray:
    """f_k for k = 0 .. layers: [layers + 1, N, N] cumulative DTW distances."""
    seqs, layers = ring_sequences(adj, max_layer)
    n = adj.shape[0]
    f = np.zeros((layers + 1, n, n))
    acc = np.zeros((n, n))
    for k, (off, degs, cnts) in enumerate(seqs):
        acc = acc + _layer_distances(off, degs, cnts, n)
        f[k] = acc
    return f


@nb.njit(cache=True)
def _walks(cdf, p_up, num_walks, walk_length, seed):  # pragma: no cover - compiled
    np.random.seed(seed)
    n_layers, n = cdf.shape[0], cdf.shape[1]
    walks = np.empty((num_walks * n, walk_length), np.int64)
    row = 0
    for _ in range(num_walks):
        order = np.random.permutation(n)
        for s in range(n):
            u = order[s]
            layer = 0
            walks[row, 0] = u
            pos = 1
            while pos < walk_length:
                if np.random.random() < STAY_PROB or n_layers == 1:
                    r = np.random.random() * cdf[layer, u, n - 1]
                    u = np.searchsorted(cdf[layer, u], r, side="right")
                    if u >= n:
                        u = n - 1
                    walks[row, pos] = u
                    pos += 1
                else:
                    if np.random.random() < p_up[layer, u]:
                        if layer + 1 < n_layers:
                            layer += 1
                    elif layer > 0:
                        layer -= 1
            row += 1
    return walks


def struc2vec_walks(
    adj: np.ndarray, num_walks: int, walk_length: int, seed: int, max_layer: int = 3
) -> np.ndarray:
    f = structural_distances(adj, max_layer)
    n = adj.shape[0]
    w = np.exp(-f)
    idx = np.arange(n)
    w[:, idx, idx] = 0.0
    off = ~np.eye(n, dtype=bool)
    mean = w[:, off].mean(axis=1) if n > 1 else np.zeros(len(w))
    gamma = (w > mean[:, None, None]).sum(axis=2)
    up = np.log(gamma + np.e)
    p_up = up / (up + 1.0)
    cdf = np.cumsum(w, axis=2)
    # an all-zero row (n == 1) would never move; make it uniform
    cdf[cdf[:, :, -1] <= 0] = np.arange(1, n + 1, dtype=np.float64)
    return _walks(cdf, p_up, num_walks, walk_length, seed)


def struc2vec_embedding(
    adj: np.ndarray,
    dim: int = 128,
    *,
    num_walks: int = 80,
    walk_length: int = 10,
    window: int = 5,
    epochs: int = 5,
    seed: int = 0,
    max_layer: int = 3,
) -> np.ndarray:
    walks = struc2vec_walks(adj, num_walks, walk_length, seed, max_layer)
    return train_skipgram(walks, adj.shape[0], dim, window=window, epochs=epochs, seed=seed)
