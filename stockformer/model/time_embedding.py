"""Calendar time embedding (ModelConfig.time_embedding).

calendar_graph (paper): a 252-node graph, one node per (month, day-slot) with 21 slots per month;
edges join consecutive slots (across month ends too) and the same slot in adjacent months
(December next to January). Its spectral embedding initialises a learnable node table, then an FFN.
onehot (released code): one-hot(month) ++ one-hot(slot) -> FFN.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from stockformer.model.layers import FFN

MONTHS, SLOTS = 12, 21
NODES = MONTHS * SLOTS
SPECTRAL_DIM = 32


def calendar_adjacency() -> np.ndarray:
    a = np.zeros((NODES, NODES), dtype=np.float64)
    for node in range(NODES):
        nxt = (node + 1) % NODES  # next trading slot, wrapping December into January
        a[node, nxt] = a[nxt, node] = 1.0
        month, slot = divmod(node, SLOTS)
        other = ((month + 1) % MONTHS) * SLOTS + slot
        a[node, other] = a[other, node] = 1.0
    return a


def spectral_embedding(adj: np.ndarray, dim: int) -> np.ndarray:
    """Eigenvectors 1..dim of the symmetric normalised Laplacian (the constant one skipped)."""
    deg = adj.sum(1)
    inv = 1.0 / np.sqrt(deg)
    lap = np.eye(len(adj)) - inv[:, None] * adj * inv[None, :]
    _, vecs = np.linalg.eigh(lap)
    emb = vecs[:, 1 : dim + 1]
    # fix each eigenvector's sign so the embedding is the same on every machine
    signs = np.sign(emb[np.argmax(np.abs(emb), axis=0), np.arange(emb.shape[1])])
    return (emb * signs * np.sqrt(len(adj))).astype(np.float32)


class TimeEmbedding(nn.Module):
    """time [B, T, 2] int (month 0..11, slot 0..20) -> [B, T, 1, D]."""

    def __init__(self, kind: str, d: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "calendar_graph":
            table = torch.from_numpy(spectral_embedding(calendar_adjacency(), SPECTRAL_DIM))
            self.nodes = nn.Embedding.from_pretrained(table, freeze=False)
            self.ffn = FFN(SPECTRAL_DIM, d, d)
        elif kind == "onehot":
            self.ffn = FFN(MONTHS + SLOTS, d, d)
        else:
            raise ValueError(f"time_embedding {kind!r}: expected calendar_graph or onehot")

    def forward(self, time: torch.Tensor) -> torch.Tensor:
        month = time[..., 0].long().clamp(0, MONTHS - 1)
        slot = time[..., 1].long().clamp(0, SLOTS - 1)
        if self.kind == "calendar_graph":
            feat = self.nodes(month * SLOTS + slot)
        else:
            feat = torch.cat(
                [nn.functional.one_hot(month, MONTHS), nn.functional.one_hot(slot, SLOTS)], -1
            ).float()
        return self.ffn(feat).unsqueeze(-2)
