"""Skip-gram with negative sampling (word2vec's SGNS) on random walks, in torch.

The walks' (center, context) pairs within the window are aggregated into a co-occurrence
count matrix C [N, N]; the loss is SGNS summed over all pairs with the negative term taken in
expectation over the unigram^0.75 noise distribution:
    L = -sum_ij C_ij log s(u_i . v_j) - k * sum_i (sum_j C_ij) sum_m q_m log s(-u_i . v_m)
This is exactly the expected per-pair SGNS loss, minimised full-batch with Adam: no sampling
noise (deterministic for a seed) and one [N, N] matmul per step, fast for stock universes.
"""

from __future__ import annotations

import numpy as np
import torch


def cooccurrence(walks: np.ndarray, n_nodes: int, window: int) -> np.ndarray:
    """Counts of (center, context) pairs within `window` steps, both directions: [N, N]."""
    c = np.zeros(n_nodes * n_nodes, dtype=np.float64)
    for o in range(1, min(window, walks.shape[1] - 1) + 1):
        a, b = walks[:, :-o].ravel(), walks[:, o:].ravel()
        c += np.bincount(a * n_nodes + b, minlength=n_nodes * n_nodes)
        c += np.bincount(b * n_nodes + a, minlength=n_nodes * n_nodes)
    return c.reshape(n_nodes, n_nodes)


def train_skipgram(
    walks: np.ndarray,
    n_nodes: int,
    dim: int,
    *,
    window: int = 5,
    epochs: int = 5,
    negatives: int = 5,
    steps_per_epoch: int = 60,
    lr: float = 0.05,
    seed: int = 0,
) -> np.ndarray:
    """Node embeddings [n_nodes, dim] float32 (the input vectors), deterministic for a seed."""
    gen = torch.Generator().manual_seed(seed)
    counts = cooccurrence(walks, n_nodes, window)
    total = counts.sum()
    c = torch.tensor(counts / max(total, 1.0), dtype=torch.float32)  # scale-free loss
    freq = np.bincount(walks.ravel(), minlength=n_nodes).astype(np.float64) ** 0.75
    q = torch.tensor(freq / freq.sum(), dtype=torch.float32)
    row = c.sum(1, keepdim=True)
    emb_in = torch.nn.Parameter((torch.rand(n_nodes, dim, generator=gen) - 0.5) / dim**0.5)
    emb_out = torch.nn.Parameter((torch.rand(n_nodes, dim, generator=gen) - 0.5) / dim**0.5)
    opt = torch.optim.Adam([emb_in, emb_out], lr=lr)
    logsig = torch.nn.functional.logsigmoid
    for _ in range(epochs * steps_per_epoch):
        scores = emb_in @ emb_out.T  # [N, N]
        pos = (c * logsig(scores)).sum()
        neg = negatives * (row * (q[None, :] * logsig(-scores))).sum()
        loss = -(pos + neg)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return emb_in.detach().numpy().astype(np.float32)
