"""The CPU accelerator (stockformer/accel/) against the plain-PyTorch model: it swaps only the
modules it knows, keeps parameters and state-dict keys (a checkpoint from either path loads on the
other, through the trainer's resume too), leaves any other layer as written, and trains with it;
train.cpu_kernels decides where it runs."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stockformer.accel import accelerate, for_training, to_plain, use_cpu_kernels
from stockformer.config import ModelConfig, TrainConfig
from stockformer.model.layers import FFN
from stockformer.model.registry import build_model
from stockformer.train.trainer import fit
from tests.test_trainer import make_fs, make_graph, make_split, small_cfgs

torch.set_num_threads(1)


def _model_and_batch(spatial="copy", dropout=0.2, n=6, f=4, t=5):
    rng = np.random.default_rng(0)
    src, dst = np.nonzero(~np.eye(n, dtype=bool))
    graph = types.SimpleNamespace(edge_index=np.stack([src, dst]), edge_weight=rng.random(len(src)),
                                  embedding=rng.standard_normal((n, 8)).astype(np.float32))
    cfg = ModelConfig(t1=t, t2=2, d_model=8, heads=2, layers=2, dropout=dropout, spatial_attention=spatial,
                      sparse_k=3)
    torch.manual_seed(0)
    model = build_model(cfg, f, n, graph)
    gen = torch.Generator().manual_seed(1)
    batch = {"x": torch.randn(2, t, n, f, generator=gen), "ret": 0.02 * torch.randn(2, t, n, generator=gen),
             "valid": torch.rand(2, t, n, generator=gen) > 0.2, "time": torch.randint(0, 12, (2, t, 2), generator=gen)}
    return model, batch


def _accelerated(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if type(m).__module__ == "stockformer.accel.modules"]


def _loss(model, batch):
    return sum(v.float().pow(2).mean() for v in model(batch).values())


@pytest.mark.parametrize("spatial", ["copy", "plain", "sparse"])
def test_accelerator_swaps_modules_and_keeps_parameters_and_keys(spatial):
    model, _ = _model_and_batch(spatial)
    params = dict(model.named_parameters())
    keys = list(model.state_dict())
    assert not _accelerated(model)  # the registry builds the plain model
    model = accelerate(model)
    swapped = _accelerated(model)
    # every layer kind of the model is swapped: decoupling, temporal, conv, spatial, FFNs
    assert "decouple" in swapped and "low_temporal.0" in swapped and "high_temporal.1" in swapped
    assert "low_spatial.0" in swapped and "reg_head" in swapped and "low_spatial.1.ffn.ffn" in swapped
    assert list(model.state_dict()) == keys
    after = dict(model.named_parameters())
    assert after.keys() == params.keys() and all(after[k] is params[k] for k in params)  # shared, not copied
    assert accelerate(model) is model and _accelerated(model) == swapped  # idempotent
    assert not _accelerated(to_plain(model))


@pytest.mark.parametrize("save_accelerated", [True, False])
def test_a_checkpoint_saved_on_either_path_loads_on_the_other(tmp_path, save_accelerated):
    model, batch = _model_and_batch()
    with torch.no_grad():  # distinct weights from the fresh model's
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    saver = accelerate(model) if save_accelerated else model
    torch.save(saver.state_dict(), tmp_path / "model.pt")
    other, _ = _model_and_batch()
    other = other if save_accelerated else accelerate(other)
    other.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))  # strict
    saver.eval()
    other.eval()
    with torch.no_grad():
        a, b = saver(batch), other(batch)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-5)


def test_run_directories_from_before_the_relu_left_ffn_still_load():
    ffn = FFN(4, 6, 3)
    old = {"net.0.weight": torch.randn(6, 4), "net.0.bias": torch.randn(6),
           "net.3.weight": torch.randn(3, 6), "net.3.bias": torch.randn(3)}
    ffn.load_state_dict(old)
    x = torch.randn(5, 4)
    expect = F.linear(torch.relu(F.linear(x, old["net.0.weight"], old["net.0.bias"])),
                      old["net.3.weight"], old["net.3.bias"])
    torch.testing.assert_close(ffn.eval()(x), expect)
    assert sorted(ffn.state_dict()) == ["net.0.bias", "net.0.weight", "net.2.bias", "net.2.weight"]


class _ScaledFFN(FFN):
    """A plain-torch subclass of a known layer: its own forward, nothing else."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * super().forward(x)


class _GatedHead(nn.Module):
    """A new plain-torch layer the accelerator has never heard of."""

    def __init__(self, d: int, out: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d, d)
        self.proj = nn.Linear(d, out)
        self.drop = nn.Dropout(0.1)
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.drop(self.norm(x * torch.sigmoid(self.gate(x)))))


def test_layers_the_accelerator_does_not_know_are_left_alone_and_train():
    model, batch = _model_and_batch()
    model.reg_head = _ScaledFFN(8, 8, 1, 0.2)
    model.cls_head = _GatedHead(8, 2)
    model = accelerate(model).train()
    assert type(model.reg_head) is _ScaledFFN and type(model.cls_head) is _GatedHead
    assert _accelerated(model)  # the known layers around them are swapped
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = {k: v.detach().clone() for k, v in model.named_parameters() if k.startswith(("reg_head", "cls_head"))}
    losses = []
    for step in range(8):
        torch.manual_seed(step)
        opt.zero_grad()
        loss = _loss(model, batch)
        loss.backward()
        for k in before:
            assert model.get_parameter(k).grad is not None and model.get_parameter(k).grad.abs().sum() > 0, k
        opt.step()
        losses.append(float(loss.detach()))
    assert all(not torch.equal(before[k], model.get_parameter(k)) for k in before)
    assert losses[-1] < losses[0]


def test_cpu_kernels_switch_decides_where_the_accelerator_runs():
    assert use_cpu_kernels("cpu", "auto") and use_cpu_kernels(torch.device("cpu"), "auto")
    assert not use_cpu_kernels("cpu", "off")
    assert not use_cpu_kernels("cuda", "auto") and not use_cpu_kernels(torch.device("cuda", 0), "auto")
    with pytest.raises(ValueError, match="cpu_kernels"):
        use_cpu_kernels("cpu", "on")
    model, _ = _model_and_batch()
    assert _accelerated(for_training(model, "cpu", "auto"))
    assert not _accelerated(for_training(model, "cpu", "off"))
    assert not _accelerated(for_training(accelerate(model), "cuda", "auto"))
    assert TrainConfig().cpu_kernels == "auto"
    with pytest.raises(ValueError):
        TrainConfig(cpu_kernels="on")


def test_accelerated_modules_run_the_plain_forward_off_cpu(monkeypatch):
    # a swapped module fed a tensor on another device takes the plain path: simulated by making
    # the CPU check answer "not CPU" and comparing against the plain model, dropout off
    from stockformer.accel import modules

    model, batch = _model_and_batch(dropout=0.0)
    model.train()
    plain = _loss(model, batch)
    calls = []
    monkeypatch.setattr(modules, "_cpu", lambda x: bool(calls.append(1)))
    monkeypatch.setattr(modules, "residual_norm", lambda *a, **k: pytest.fail("CPU op called off CPU"))
    torch.testing.assert_close(_loss(accelerate(model), batch), plain)
    assert calls


def test_trainer_takes_the_switch_and_resumes_across_paths(tmp_path):
    fs, split, graph = make_fs(days=60, n=10, f=4), make_split(days=60), make_graph(n=10)
    mcfg, tcfg = small_cfgs(dropout=0.2)
    tcfg = tcfg.model_copy(update={"epochs": 1, "cpu_kernels": "auto"})
    res = fit(fs, split, graph, mcfg, tcfg, seed=0, run_dir=tmp_path)
    assert _accelerated(res.model)
    # the same run resumed with the kernels off: the checkpoint loads, one more epoch trains plain
    tcfg = tcfg.model_copy(update={"epochs": 2, "cpu_kernels": "off"})
    res = fit(fs, split, graph, mcfg, tcfg, seed=0, run_dir=tmp_path, resume=True)
    assert not _accelerated(res.model)
    assert [row["epoch"] for row in res.history] == [0, 1]
