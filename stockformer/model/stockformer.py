"""The Stockformer model (PAPER.md "Model"): decoupling flow layer, dual-frequency
spatiotemporal encoder, fusion decoder and the four shared heads.

forward(batch) -> {reg [B,T2,N], logits [B,T2,N,2], reg_low, logits_low}.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from stockformer.config import ModelConfig
from stockformer.model.checks import InputShapeError, check_tensor, require
from stockformer.model.edge_attention import EdgeStructure
from stockformer.model.layers import FFN, CausalDilatedConv, CausalTemporalAttention, ResidualFFN
from stockformer.model.spatial import DenseSpatialAttention, SparseSpatialAttention, topk_edges
from stockformer.model.time_embedding import TimeEmbedding
from stockformer.model.wavelet import WaveletSplit

log = logging.getLogger(__name__)

_LARGE_STEP_TOKENS = 16384  # batch * t1 * stocks from which the "auto" speed/memory modes turn on


def is_large_step(batch: int, t1: int, stocks: int) -> bool:
    """A step big enough for checkpointing (grad_checkpoint=auto) and CPU bf16 (train.cpu_amp=auto)."""
    return batch * t1 * stocks >= _LARGE_STEP_TOKENS


def checkpointing_active(mode: str, training: bool, batch: int, t1: int, stocks: int) -> bool:
    """Whether a training step recomputes sub-layer activations in backward (also the rule the
    memory estimate in train/memory.py follows)."""
    if not training or mode == "off":
        return False
    return mode == "on" or is_large_step(batch, t1, stocks)


class DecouplingFlow(nn.Module):
    """Per band: FFN (F + 2) -> d -> d on [band value, up/down indicator, F factors].

    The first layers of the two band FFNs are one matmul over [factors, low, high, indicator]
    (F + 3 inputs -> 2d outputs, the band columns zero in the other band's half), which is
    exactly two separate Linear(F + 2, d). The input is assembled once, directly in the compute
    dtype (under autocast the cast is that same copy), so nothing runs in a promoted fp32.
    """

    def __init__(self, n_features: int, d: int, dropout: float) -> None:
        super().__init__()
        self.d = d
        self.factors = nn.Linear(n_features, 2 * d)
        self.scalars = nn.Linear(2, 2 * d, bias=False)  # (band, indicator) weights for each band
        self.second = nn.ModuleList([nn.Linear(d, d), nn.Linear(d, d)])
        self.drop = nn.Dropout(dropout)

    def _first_weight(self) -> torch.Tensor:
        """[2d, F + 3]: the factor weights, then the low / high band and indicator columns."""
        w = self.scalars.weight  # [2d, 2]: column 0 band, column 1 indicator
        zeros = w.new_zeros(self.d)
        low = torch.cat([w[: self.d, 0], zeros])
        high = torch.cat([zeros, w[self.d :, 0]])
        return torch.cat([self.factors.weight, torch.stack([low, high, w[:, 1]], 1)], 1)

    def inputs(self, x: torch.Tensor, low: torch.Tensor, high: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        """[factors, low, high, indicator] [..., F + 3] in the compute dtype."""
        kind = x.device.type
        dtype = torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype
        f = x.shape[-1]
        inp = x.new_empty((*x.shape[:-1], f + 3), dtype=dtype)
        inp[..., :f] = x
        inp[..., f:] = torch.stack([low, high, up], -1)
        return inp

    def outputs(self, hid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two bands' second layers on the hidden activations [..., 2d]."""
        return self.second[0](hid[..., : self.d]), self.second[1](hid[..., self.d :])

    def forward(self, x: torch.Tensor, low: torch.Tensor, high: torch.Tensor, up: torch.Tensor):
        hid = F.linear(self.inputs(x, low, high, up), self._first_weight(), self.factors.bias)
        return self.outputs(self.drop(F.relu(hid)))


class FusionDecoder(nn.Module):
    """Fusion over the T2 predicted steps, low band as query (causal over the steps)."""

    def __init__(self, d: int, heads: int, dropout: float, mode: str) -> None:
        super().__init__()
        self.mode = mode
        if mode != "add":
            self.cross = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        if mode == "paper":
            self.self_att = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.ffn = ResidualFFN(d, dropout)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        b, t, n, d = low.shape
        if self.mode == "add":
            return self.ffn(self.norm(low + high))
        seq_l = low.permute(0, 2, 1, 3).reshape(b * n, t, d)
        seq_h = high.permute(0, 2, 1, 3).reshape(b * n, t, d)
        future = torch.ones(t, t, dtype=torch.bool, device=low.device).triu(1)  # True = blocked
        fused = self.cross(seq_l, seq_h, seq_h, attn_mask=future, need_weights=False)[0]
        if self.mode == "paper":  # Eq. 11: Att(l, l, l) + Att(l, h, h)
            fused = fused + self.self_att(seq_l, seq_l, seq_l, attn_mask=future, need_weights=False)[0]
        fused = fused.view(b, n, t, d).permute(0, 2, 1, 3)
        return self.ffn(self.norm(low + fused))


class Stockformer(nn.Module):
    def __init__(self, cfg: ModelConfig, n_features: int, n_stocks: int, graph=None) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_features, self.n_stocks = n_features, n_stocks
        d, heads, p = cfg.d_model, cfg.heads, cfg.dropout
        self.split = WaveletSplit(cfg.wavelet, cfg.wavelet_level, cfg.t1)
        self.target_split = WaveletSplit(cfg.wavelet, cfg.wavelet_level, cfg.t2)
        self.decouple = DecouplingFlow(n_features, d, p)
        self.time_emb = None if cfg.time_embedding == "none" else TimeEmbedding(cfg.time_embedding, d)

        emb = None if graph is None else getattr(graph, "embedding", None)
        self.graph_dim = None
        self.graph_proj: nn.Module | None = None
        if cfg.use_graph and emb is not None:
            emb = torch.as_tensor(np.asarray(emb), dtype=torch.float32)
            if emb.shape[0] != n_stocks:
                raise InputShapeError(f"graph.embedding: got {emb.shape[0]} stocks, expected {n_stocks}")
            self.graph_dim = int(emb.shape[1])
            self.graph_proj = nn.Identity() if self.graph_dim == d else nn.Linear(self.graph_dim, d)
        self.register_buffer("graph_emb", emb if self.graph_proj is not None else None, persistent=False)

        edges = None
        if cfg.spatial_attention == "sparse":
            if graph is None or getattr(graph, "edge_index", None) is None:
                raise InputShapeError("spatial_attention=sparse: needs a graph with edge_index")
            ei = torch.as_tensor(np.asarray(graph.edge_index), dtype=torch.long)
            ew = getattr(graph, "edge_weight", None)
            ew = None if ew is None else torch.as_tensor(np.asarray(ew), dtype=torch.float32)
            edges = topk_edges(ei, ew, n_stocks, cfg.sparse_k)
        self.register_buffer("edges", edges, persistent=False)
        self._edge_struct: EdgeStructure | None = None  # CSR layout of `edges`, built on first use

        def spatial() -> nn.Module:
            if cfg.spatial_attention == "sparse":
                return SparseSpatialAttention(d, heads, p, cfg.graph_role)
            return DenseSpatialAttention(d, heads, p, cfg.spatial_attention, cfg.attn_chunk, cfg.graph_role)

        layers = range(cfg.layers)
        self.low_temporal = nn.ModuleList(
            [CausalTemporalAttention(d, heads, p) for _ in layers] if cfg.use_temporal else []
        )
        dil = [2**i if cfg.dilation == "paper" else 1 for i in layers]
        self.high_temporal = nn.ModuleList(
            [CausalDilatedConv(d, dil[i], p) for i in layers] if cfg.use_temporal else []
        )
        self.low_spatial = nn.ModuleList([spatial() for _ in layers])
        self.high_spatial = nn.ModuleList([spatial() for _ in layers])

        # time predictor T1 -> T2: a 1x1 convolution with time as channels, one per band
        self.low_time = nn.Conv2d(cfg.t1, cfg.t2, kernel_size=1)
        self.high_time = nn.Conv2d(cfg.t1, cfg.t2, kernel_size=1)
        self.fusion = FusionDecoder(d, heads, p, cfg.fusion)
        self.reg_head = FFN(d, d, 1, p)
        self.cls_head = FFN(d, d, 2, p)

    # -- inputs ---------------------------------------------------------------------------
    def _check(self, batch: dict[str, torch.Tensor]) -> tuple[int, int]:
        x = require(batch, "x")
        check_tensor("x", x, (None, self.cfg.t1, self.n_stocks, self.n_features), "float")
        b = x.shape[0]
        check_tensor("ret", require(batch, "ret"), (b, self.cfg.t1, self.n_stocks), "float")
        check_tensor("valid", require(batch, "valid"), (b, self.cfg.t1, self.n_stocks), "bool")
        if self.time_emb is not None:
            check_tensor("time", require(batch, "time"), (b, self.cfg.t1, 2), "int")
        if "graph_emb" in batch and self.graph_dim is not None:
            check_tensor("graph_emb", batch["graph_emb"], (self.n_stocks, self.graph_dim), "float")
        return b, self.n_stocks

    def _graph_pe(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if self.graph_proj is None:
            return None
        emb = batch.get("graph_emb", self.graph_emb)
        return self.graph_proj(emb.to(self.graph_emb.dtype))

    def _edge_structure(self) -> EdgeStructure | None:
        if self.edges is None:
            return None
        st = self._edge_struct
        if st is None or st.row.device != self.edges.device:
            st = self._edge_struct = EdgeStructure.from_edges(self.edges, self.n_stocks).to(self.edges.device)
        return st

    def low_target(self, y: torch.Tensor) -> torch.Tensor:
        """Wavelet low band of the T2 target window y [B, T2, N] (y itself without wavelets)."""
        if not self.cfg.use_wavelet:
            return y
        return self.target_split(y.transpose(1, 2))[0].transpose(1, 2)

    def direction_modules(self) -> list[nn.Module]:
        """The up/down head (train.direction_head = detached stops its gradient at its input)."""
        return [self.cls_head]

    # -- model ----------------------------------------------------------------------------
    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Both encoder branches over the T1 history steps: (low, high) [B, T1, N, D], and the
        last day's decoupled representation [B, 1, N, D] when model.last_day_skip is on."""
        self._check(batch)
        x, ret, valid = batch["x"], batch["ret"], batch["valid"]
        if self.cfg.use_wavelet:
            low_r, high_r = (z.transpose(1, 2) for z in self.split(ret.transpose(1, 2)))
        else:
            low_r = high_r = ret
        up = (ret > 0).to(x.dtype)
        recompute = self._checkpointing(x)

        # with dense attention the N x N intermediates dominate memory, so the high-band
        # convolutions keep their small activations (3 [B,T,N,d] tensors each, cheap to keep and
        # slow to recompute); the sparse variant, for thousands of stocks, recomputes everything
        keep = (CausalDilatedConv,) if self.cfg.spatial_attention != "sparse" else ()

        def run(module: nn.Module, *args):
            # one sub-layer at a time: the backward peak is one module's activations (plus the
            # [B,T,N,d] sub-layer outputs kept); dropout masks are replayed (RNG state restored)
            if recompute and not isinstance(module, keep):
                return checkpoint(module, *args, use_reentrant=False)
            return module(*args)

        low, high = run(self.decouple, x, low_r, high_r, up)
        last = low[:, -1:] + high[:, -1:] if self.cfg.last_day_skip else None
        if self.time_emb is not None:
            # in the activations' dtype: under CPU bf16 autocast an fp32 term would turn the whole
            # residual stream fp32 and cost a cast before every matmul
            te = self.time_emb(batch["time"]).to(low.dtype)
            low, high = low + te, high + te
        pe = self._graph_pe(batch)
        pe = None if pe is None else pe.to(low.dtype)
        edges = self._edge_structure()
        for i in range(self.cfg.layers):
            if self.cfg.use_temporal:
                low = run(self.low_temporal[i], low, valid)
                high = run(self.high_temporal[i], high, valid)
            if self.cfg.use_spatial:
                low = run(self.low_spatial[i], low, valid, pe, edges)
                high = run(self.high_spatial[i], high, valid, pe, edges)
        return low, high, last

    def _checkpointing(self, h: torch.Tensor) -> bool:
        """Recompute in backward? h: the [B, T1, N, *] input (the batch itself needs no grad)."""
        b, t, n, _ = h.shape
        training = torch.is_grad_enabled() and self.training
        return checkpointing_active(self.cfg.grad_checkpoint, training, b, t, n)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        low, high, last = self.encode(batch)
        low = self.low_time(low)  # [B, T2, N, D]
        high = self.high_time(high)
        fused = self.fusion(low, high)
        if last is not None:
            # the heads see the latest day directly, not only through the time predictor's
            # one-weight-per-day mix (docs/MODEL_NOTES.md, third session)
            fused = fused + last
        return {
            "reg": self.reg_head(fused).squeeze(-1),
            "logits": self.cls_head(fused),
            "reg_low": self.reg_head(low).squeeze(-1),
            "logits_low": self.cls_head(low),
        }


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
