"""The stock graph: correlation of training-period returns and/or shared industry, sparsified
on request, with a Struc2Vec or spectral node embedding."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stockformer.config import GraphConfig
from stockformer.errors import ConfigError, DataError
from stockformer.graph.correlation import correlation_matrix, industry_adjacency, top_k_graph
from stockformer.graph.spectral import spectral_embedding
from stockformer.io import atomic_path

STRUC2VEC_DEFAULT_K = 10  # neighbours kept for Struc2Vec when the graph is dense
STRUC2VEC_LARGE = 1500  # nodes above which Struc2Vec's all-pairs DTW gets slow
log = logging.getLogger(__name__)


@dataclass
class StockGraph:
    adjacency: np.ndarray  # float32 [N, N], zero diagonal
    edge_index: np.ndarray  # int64 [2, E]
    edge_weight: np.ndarray  # float32 [E]
    embedding: np.ndarray | None  # float32 [N, dim]

    @classmethod
    def from_adjacency(cls, adj: np.ndarray, embedding: np.ndarray | None) -> StockGraph:
        adj = adj.astype(np.float32)
        src, dst = np.nonzero(adj)
        return cls(adj, np.stack([src, dst]).astype(np.int64), adj[src, dst], embedding)

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            emb = self.embedding
            np.savez(fh, adjacency=self.adjacency,
                     embedding=np.zeros((0, 0), np.float32) if emb is None else emb,
                     has_embedding=np.array(emb is not None))

    @classmethod
    def load(cls, path: str | Path) -> StockGraph:
        try:
            with np.load(path, allow_pickle=False) as z:
                emb = z["embedding"] if bool(z["has_embedding"]) else None
                return cls.from_adjacency(z["adjacency"], emb)
        except (OSError, KeyError, ValueError) as err:
            raise DataError(f"{path}: not a stock graph file ({type(err).__name__})") from None


def build_graph(
    returns: np.ndarray,
    valid: np.ndarray,
    cfg: GraphConfig,
    *,
    fit_end: int,
    seed: int,
    industries: list[str | None] | None = None,
) -> StockGraph:
    """Graph and embedding from rows [:fit_end + 1] only (the training period)."""
    if not 0 <= fit_end < len(returns):
        raise ConfigError(f"graph: fit_end {fit_end} outside the {len(returns)} dates")
    n = returns.shape[1]
    parts = []
    if cfg.source in ("correlation", "both"):
        corr = correlation_matrix(returns[: fit_end + 1], valid[: fit_end + 1], cfg.correlation)
        np.fill_diagonal(corr, 0.0)
        parts.append(top_k_graph(corr, cfg.top_k) if cfg.top_k else corr)
    if cfg.source in ("industry", "both"):
        if industries is None or not any(industries):
            raise ConfigError(f"graph.source: {cfg.source} needs an industry column in the panel")
        parts.append(industry_adjacency(industries))
    adj = parts[0] if len(parts) == 1 else np.maximum(parts[0], parts[1])
    emb = None
    if cfg.embedding == "spectral":
        emb = spectral_embedding(adj, cfg.dim)
    elif cfg.embedding == "struc2vec":
        from stockformer.graph.struc2vec import struc2vec_embedding  # lazy: torch

        if n > STRUC2VEC_LARGE:
            log.warning("graph: Struc2Vec compares all %d x %d node pairs (slow, memory ~ "
                        "%.1f GiB); embedding: spectral scales better", n, n, 4 * 3 * n * n * 8 / 2**30)
        # degrees only mean something on a sparse graph: sparsify a dense one first
        sparse = adj if cfg.top_k or cfg.source == "industry" else top_k_graph(
            adj, min(STRUC2VEC_DEFAULT_K, max(n - 1, 1))
        )
        emb = struc2vec_embedding(
            sparse, cfg.dim, num_walks=cfg.num_walks, walk_length=cfg.walk_length,
            window=cfg.window, epochs=cfg.epochs, seed=seed,
        )
    return StockGraph.from_adjacency(adj, emb)
