"""Neural baselines: MLP, LSTM, GRU, ALSTM, TCN, Transformer and GATs.

Each stock is encoded on its own from its T1-day window of [factors, return] (the sequence
models) or from the last day (MLP); GATs then mixes stocks over the stock graph.
"""

from __future__ import annotations

import torch
from torch import nn

from stockformer.config import ModelConfig
from stockformer.model.checks import check_tensor, require


class _Heads(nn.Module):
    """Shared output: T2 returns and T2 up/down logits from one hidden vector per stock."""

    def __init__(self, d: int, t2: int, dropout: float) -> None:
        super().__init__()
        self.t2 = t2
        self.drop = nn.Dropout(dropout)
        self.reg = nn.Linear(d, t2)
        self.cls = nn.Linear(d, t2 * 2)

    def forward(self, h: torch.Tensor, b: int, n: int) -> dict[str, torch.Tensor]:
        h = self.drop(h)
        reg = self.reg(h).view(b, n, self.t2).permute(0, 2, 1)
        logits = self.cls(h).view(b, n, self.t2, 2).permute(0, 2, 1, 3)
        return {"reg": reg, "logits": logits}


class _PerStockBaseline(nn.Module):
    """Common input handling: check the batch, build per-stock sequences [B*N, T1, F+1]."""

    def __init__(self, cfg: ModelConfig, n_features: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_features = n_features
        self.d = cfg.d_model
        self.inp = nn.Linear(n_features + 1, cfg.d_model)
        self.heads = _Heads(cfg.d_model, cfg.t2, cfg.dropout)

    def sequences(self, batch: dict) -> tuple[torch.Tensor, int, int]:
        t1 = self.cfg.t1
        x = check_tensor("x", require(batch, "x"), (None, t1, None, self.n_features), "float")
        b, n = x.shape[0], x.shape[2]
        ret = check_tensor("ret", require(batch, "ret"), (b, t1, n), "float")
        seq = torch.cat([x, ret.unsqueeze(-1)], dim=-1)  # [B, T1, N, F+1]
        seq = seq.permute(0, 2, 1, 3).reshape(b * n, t1, self.n_features + 1)
        return self.inp(seq), b, n

    def direction_modules(self) -> list[nn.Module]:
        """The up/down head (train.direction_head = detached stops its gradient at its input)."""
        return [self.heads.cls]

    def encode(self, seq: torch.Tensor) -> torch.Tensor:  # [B*N, T1, d] -> [B*N, d]
        raise NotImplementedError

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        seq, b, n = self.sequences(batch)
        return self.heads(self.encode(seq), b, n)


class MLPBaseline(_PerStockBaseline):
    def __init__(self, cfg: ModelConfig, n_features: int) -> None:
        super().__init__(cfg, n_features)
        self.net = nn.Sequential(
            nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.d_model, cfg.d_model), nn.GELU()
        )

    def encode(self, seq):
        return self.net(seq[:, -1])  # the last day; Alpha360 already holds 60 days of history


class RNNBaseline(_PerStockBaseline):
    def __init__(self, cfg: ModelConfig, n_features: int, cell: str) -> None:
        super().__init__(cfg, n_features)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(cfg.d_model, cfg.d_model, num_layers=cfg.layers, batch_first=True,
                       dropout=cfg.dropout if cfg.layers > 1 else 0.0)

    def encode(self, seq):
        out, _ = self.rnn(seq)
        return out[:, -1]


class ALSTMBaseline(_PerStockBaseline):
    """LSTM with temporal attention over its hidden states (Qin et al. 2017, as in qlib)."""

    def __init__(self, cfg: ModelConfig, n_features: int) -> None:
        super().__init__(cfg, n_features)
        self.rnn = nn.LSTM(cfg.d_model, cfg.d_model, num_layers=cfg.layers, batch_first=True,
                           dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.att = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_model // 2), nn.Tanh(),
                                 nn.Linear(cfg.d_model // 2, 1, bias=False))
        self.mix = nn.Linear(2 * cfg.d_model, cfg.d_model)

    def encode(self, seq):
        out, _ = self.rnn(seq)
        w = torch.softmax(self.att(out), dim=1)
        return self.mix(torch.cat([out[:, -1], (w * out).sum(1)], dim=-1))


class _CausalConv(nn.Module):
    def __init__(self, d: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.pad = dilation  # kernel 2: left-pad by the dilation keeps it causal
        self.conv = nn.Conv1d(d, d, kernel_size=2, dilation=dilation)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):  # [B, d, T]
        y = self.conv(nn.functional.pad(x, (self.pad, 0)))
        return torch.relu(x + self.drop(torch.relu(y)))


class TCNBaseline(_PerStockBaseline):
    def __init__(self, cfg: ModelConfig, n_features: int) -> None:
        super().__init__(cfg, n_features)
        self.blocks = nn.Sequential(
            *[_CausalConv(cfg.d_model, 2**i, cfg.dropout) for i in range(max(cfg.layers, 2))]
        )

    def encode(self, seq):
        return self.blocks(seq.transpose(1, 2))[:, :, -1]


class TransformerBaseline(_PerStockBaseline):
    def __init__(self, cfg: ModelConfig, n_features: int) -> None:
        super().__init__(cfg, n_features)
        self.pos = nn.Parameter(torch.zeros(1, cfg.t1, cfg.d_model))
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.heads, 2 * cfg.d_model, cfg.dropout,
                                           batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        mask = torch.triu(torch.full((cfg.t1, cfg.t1), float("-inf")), diagonal=1)
        self.register_buffer("causal", mask, persistent=False)

    def encode(self, seq):
        return self.enc(seq + self.pos, mask=self.causal)[:, -1]


class GATsBaseline(_PerStockBaseline):
    """GRU per stock, then graph attention over the stock graph (qlib's GATs, with torch-geometric)."""

    def __init__(self, cfg: ModelConfig, n_features: int) -> None:
        super().__init__(cfg, n_features)
        from torch_geometric.nn import GATv2Conv

        self.rnn = nn.GRU(cfg.d_model, cfg.d_model, batch_first=True)
        self.gat = GATv2Conv(cfg.d_model, cfg.d_model, heads=cfg.heads, concat=False,
                             dropout=cfg.dropout, add_self_loops=True)
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        seq, b, n = self.sequences(batch)
        out, _ = self.rnn(seq)
        h = out[:, -1]  # [B*N, d]
        edge_index = batch.get("edge_index")
        if edge_index is None or edge_index.numel() == 0:  # no graph: fully connected fallback
            idx = torch.arange(n, device=h.device)
            edge_index = torch.stack(torch.meshgrid(idx, idx, indexing="ij")).reshape(2, -1)
        edge_index = edge_index.to(h.device).long()
        offsets = (torch.arange(b, device=h.device) * n).repeat_interleave(edge_index.shape[1])
        big = edge_index.repeat(1, b) + offsets  # one disjoint graph per sample
        h = self.norm(h + self.gat(h, big))
        return self.heads(h, b, n)


NEURAL_BASELINES = {
    "mlp": MLPBaseline,
    "lstm": lambda cfg, f: RNNBaseline(cfg, f, "lstm"),
    "gru": lambda cfg, f: RNNBaseline(cfg, f, "gru"),
    "alstm": ALSTMBaseline,
    "tcn": TCNBaseline,
    "transformer": TransformerBaseline,
    "gats": GATsBaseline,
}


def build_baseline(cfg: ModelConfig, n_features: int) -> nn.Module:
    return NEURAL_BASELINES[cfg.name](cfg, n_features)
