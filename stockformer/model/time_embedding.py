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
    """The calendar graph itself (the closed form below is checked against it in the tests)."""
    a = np.zeros((NODES, NODES), dtype=np.float64)
    for node in range(NODES):
        nxt = (node + 1) % NODES  # next trading slot, wrapping December into January
        a[node, nxt] = a[nxt, node] = 1.0
        month, slot = divmod(node, SLOTS)
        other = ((month + 1) % MONTHS) * SLOTS + slot
        a[node, other] = a[other, node] = 1.0
    return a


def calendar_spectral_embedding(dim: int) -> np.ndarray:
    """Eigenvectors 1..dim of the calendar graph's symmetric normalised Laplacian (the constant
    one skipped), scaled by sqrt(NODES), in closed form.

    The graph is circulant (node i joins i +- 1 and i +- SLOTS, mod NODES; degree 4), so its
    eigenvectors are Fourier modes: frequency k has eigenvalue
    1 - (cos(2 pi k / N) + cos(2 pi SLOTS k / N)) / 2, shared by its cosine and its sine. Every
    eigenvalue is at least double, and a numerical eigensolver returns an arbitrary rotation
    inside each eigenspace, one that changed with the BLAS thread count: a Ray worker (one
    OpenBLAS thread) built a different model from the same seed. This basis is the same on every
    machine. Ties between frequencies go to the lower k."""
    n = NODES
    freqs = np.arange(1, n // 2 + 1)
    eig = 1.0 - (np.cos(2 * np.pi * freqs / n) + np.cos(2 * np.pi * SLOTS * freqs / n)) / 2.0
    node = np.arange(n)
    cols: list[np.ndarray] = []
    for k in freqs[np.lexsort((freqs, np.round(eig, 10)))]:
        cols.append(np.cos(2 * np.pi * k * node / n))
        if 2 * k != n:  # the Nyquist frequency has no sine
            cols.append(np.sin(2 * np.pi * k * node / n))
        if len(cols) >= dim:
            break
    emb = np.stack(cols[:dim], axis=1)
    emb = emb / np.sqrt((emb * emb).sum(axis=0))  # unit eigenvectors, as an eigensolver returns
    return (emb * np.sqrt(n)).astype(np.float32)


class TimeEmbedding(nn.Module):
    """time [B, T, 2] int (month 0..11, slot 0..20) -> [B, T, 1, D]."""

    def __init__(self, kind: str, d: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "calendar_graph":
            table = torch.from_numpy(calendar_spectral_embedding(SPECTRAL_DIM))
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
