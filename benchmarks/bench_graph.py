"""Stock graph benchmark: correlation graph + Struc2Vec / spectral embeddings.

    python -m benchmarks.bench_graph [--stocks 300] [--days 486]

Paper settings: 128 dims, 80 walks of length 10, window 5, 5 skip-gram epochs. The first
Struc2Vec call also compiles the numba kernels (cached on disk afterwards): reported apart.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def main() -> None:
    from stockformer.config import GraphConfig
    from stockformer.graph import build_graph

    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=300)
    ap.add_argument("--days", type=int, default=486)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    t, n = args.days, args.stocks
    factors = rng.normal(size=(t, 8))
    loads = rng.normal(size=(8, n)) * (rng.random((8, n)) < 0.3)
    ret = (factors @ loads * 0.01 + rng.normal(0, 0.015, (t, n))).astype(np.float32)
    valid = rng.random((t, n)) > 0.02
    build_graph(ret[:60, :20], valid[:60, :20], GraphConfig(num_walks=2, dim=8), fit_end=59,
                seed=0)  # compile / load the numba kernels
    rows = []
    for name, cfg in [
        ("correlation only (spearman, dense)", GraphConfig(embedding="none")),
        ("spectral, 128 dims", GraphConfig(embedding="spectral")),
        ("struc2vec, 128 dims, 80 walks x 10, top-10 sparsified", GraphConfig()),
        ("struc2vec, top_k = 20", GraphConfig(top_k=20)),
    ]:
        t0 = time.perf_counter()
        g = build_graph(ret, valid, cfg, fit_end=t - 1, seed=0)
        rows.append((name, time.perf_counter() - t0, g.edge_index.shape[1]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"| graph ({n} stocks x {t} days) | seconds | edges |")
    print("|---|---|---|")
    for name, secs, edges in rows:
        print(f"| {name} | {secs:.1f} | {edges:,} |")
    print(f"\npeak RSS {peak:.2f} GiB")


if __name__ == "__main__":
    main()
