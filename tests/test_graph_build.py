from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from stockformer.config import GraphConfig
from stockformer.errors import ConfigError, DataError
from stockformer.graph import StockGraph, build_graph
from stockformer.graph.correlation import correlation_matrix, industry_adjacency, top_k_graph
from stockformer.graph.struc2vec import struc2vec_embedding

FAST = {"num_walks": 10, "walk_length": 10, "epochs": 2, "dim": 16}


@pytest.fixture(scope="module")
def market():
    rng = np.random.default_rng(0)
    t, n = 160, 40
    f = rng.normal(size=(t, 3))
    load = rng.normal(size=(3, n))
    r = (f @ load * 0.01 + rng.normal(0, 0.01, (t, n))).astype(np.float32)
    v = rng.random((t, n)) > 0.05
    return r, v


def test_correlation_matches_numpy_and_scipy(market):
    r, _ = market
    full = np.ones_like(r, dtype=bool)
    np.testing.assert_allclose(correlation_matrix(r, full, "pearson"),
                               np.corrcoef(r.T.astype(np.float64)), atol=1e-9)
    np.testing.assert_allclose(correlation_matrix(r, full, "spearman"),
                               spearmanr(r).statistic, atol=1e-9)
    # pairwise-complete: a pair's correlation uses only days both traded
    v = full.copy()
    v[:50, 0] = False
    c = correlation_matrix(r, v, "pearson")
    assert c[0, 1] == pytest.approx(np.corrcoef(r[50:, 0], r[50:, 1])[0, 1], abs=1e-9)


def test_top_k_and_industry():
    rng = np.random.default_rng(1)
    w = rng.uniform(-1, 1, (12, 12))
    w = (w + w.T) / 2
    g = top_k_graph(w, 3)
    assert (g == g.T).all() and (np.diag(g) == 0).all()
    assert ((g != 0).sum(1) >= 3).all()
    for i in range(12):  # each node keeps its own 3 strongest
        row = np.where(np.arange(12) == i, -np.inf, w[i])
        assert set(np.argsort(-row)[:3]) <= set(np.flatnonzero(g[i]))
    a = industry_adjacency(["x", "y", "x", None, None])
    assert a[0, 2] == 1 and a[0, 1] == 0 and a[3, 4] == 0 and a.trace() == 0


def test_graph_uses_training_rows_only(market):
    r, v = market
    cfg = GraphConfig(embedding="struc2vec", top_k=5, **FAST)
    base = build_graph(r, v, cfg, fit_end=100, seed=3)
    r2 = r.copy()
    r2[101:] = np.random.default_rng(5).normal(size=r2[101:].shape)
    moved = build_graph(r2, v, cfg, fit_end=100, seed=3)
    np.testing.assert_array_equal(base.adjacency, moved.adjacency)
    np.testing.assert_array_equal(base.embedding, moved.embedding)
    later = build_graph(r2, v, cfg, fit_end=150, seed=3)
    assert not np.array_equal(base.adjacency, later.adjacency)


def test_embeddings_deterministic_by_seed(market):
    r, v = market
    for emb in ("spectral", "struc2vec"):
        cfg = GraphConfig(embedding=emb, **FAST)
        a = build_graph(r, v, cfg, fit_end=120, seed=1)
        b = build_graph(r, v, cfg, fit_end=120, seed=1)
        assert a.embedding.shape == (40, 16) and a.embedding.dtype == np.float32
        np.testing.assert_array_equal(a.embedding, b.embedding)
        assert np.isfinite(a.embedding).all() and a.embedding.std() > 0
    c = build_graph(r, v, GraphConfig(embedding="struc2vec", **FAST), fit_end=120, seed=2)
    assert not np.array_equal(a.embedding, c.embedding)


def test_struc2vec_sees_structural_roles():
    # two disjoint 8-leaf stars joined by their centres: the centres play the same role
    n = 18
    adj = np.zeros((n, n))
    for centre, leaves in ((0, range(1, 9)), (9, range(10, 18))):
        adj[centre, list(leaves)] = adj[list(leaves), centre] = 1
    adj[0, 9] = adj[9, 0] = 1
    e = struc2vec_embedding(adj, 16, num_walks=20, walk_length=10, epochs=3, seed=0)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    centre_sim = e[0] @ e[9]
    centre_leaf = np.mean([e[0] @ e[j] for j in range(10, 18)])
    leaf_leaf = np.mean([e[1] @ e[j] for j in range(10, 18)])
    assert centre_sim > centre_leaf and leaf_leaf > centre_leaf


def test_sources_save_load_and_errors(market, tmp_path):
    r, v = market
    inds = [f"I{i % 4}" for i in range(40)]
    ind = build_graph(r, v, GraphConfig(source="industry", embedding="none"), fit_end=100,
                      seed=0, industries=inds)
    assert ind.embedding is None and ind.adjacency[0, 4] == 1 and ind.adjacency[0, 1] == 0
    both = build_graph(r, v, GraphConfig(source="both", embedding="spectral", dim=8, top_k=3),
                       fit_end=100, seed=0, industries=inds)
    assert both.adjacency[0, 4] == 1 and (both.adjacency != 0).sum() > (ind.adjacency != 0).sum()
    src, dst = both.edge_index
    np.testing.assert_array_equal(both.edge_weight, both.adjacency[src, dst])
    both.save(tmp_path / "g.npz")
    back = StockGraph.load(tmp_path / "g.npz")
    np.testing.assert_array_equal(back.adjacency, both.adjacency)
    np.testing.assert_array_equal(back.embedding, both.embedding)
    np.testing.assert_array_equal(back.edge_index, both.edge_index)
    ind.save(tmp_path / "i.npz")
    assert StockGraph.load(tmp_path / "i.npz").embedding is None
    (tmp_path / "bad.npz").write_text("nope")
    with pytest.raises(DataError, match="bad.npz"):
        StockGraph.load(tmp_path / "bad.npz")
    with pytest.raises(ConfigError, match="industry"):
        build_graph(r, v, GraphConfig(source="industry"), fit_end=100, seed=0)
    with pytest.raises(ConfigError, match="fit_end"):
        build_graph(r, v, GraphConfig(), fit_end=500, seed=0)
