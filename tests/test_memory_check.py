import pytest

from stockformer.config import ModelConfig
from stockformer.errors import ResourceError
from stockformer.train.memory import check_memory, estimate_step_memory


def test_estimate_grows_with_stocks_and_batch():
    cfg = ModelConfig()
    small = estimate_step_memory(cfg, 100, 360, 4).bytes
    assert estimate_step_memory(cfg, 200, 360, 4).bytes > small
    assert estimate_step_memory(cfg, 100, 360, 8).bytes > small


def test_sparse_attention_scales_linearly():
    dense = ModelConfig(spatial_attention="copy")
    sparse = ModelConfig(spatial_attention="sparse", sparse_k=16)
    d1, d2 = (estimate_step_memory(dense, n, 360, 4).bytes for n in (1000, 4000))
    s1, s2 = (estimate_step_memory(sparse, n, 360, 4).bytes for n in (1000, 4000))
    assert d2 / d1 > 4.5  # the N x N scores make dense attention grow faster than N
    assert s2 / s1 < 4.1  # linear


@pytest.mark.parametrize(
    ("attention", "stocks", "batch", "ckpt", "measured_gib"),
    [("copy", 255, 12, "auto", 3.93), ("copy", 255, 12, "off", 6.04), ("sparse", 5000, 4, "auto", 7.38)],
)
def test_estimate_is_calibrated_on_measured_steps(attention, stocks, batch, ckpt, measured_gib):
    """Peak RSS of real training steps (benchmarks/bench_model.py, docs/BENCHMARKS.md)."""
    cfg = ModelConfig(spatial_attention=attention, grad_checkpoint=ckpt)
    est = estimate_step_memory(cfg, stocks, 360, batch).gib
    assert measured_gib * 0.85 < est < measured_gib * 1.3


def test_refuses_with_a_suggestion_when_over_the_limit():
    cfg = ModelConfig()
    with pytest.raises(ResourceError, match=r"GiB.*try .*batch_size=6.*sparse"):
        check_memory(cfg, 5000, 360, 12, limit_gb=4.0)


def test_accepts_what_fits():
    est = check_memory(ModelConfig(d_model=16), 30, 360, 4, limit_gb=4.0)
    assert est.gib < 4.0


def test_training_checks_memory_on_the_device_the_trainer_resolves(monkeypatch):
    """train.device: cuda without CUDA is one ResourceError line from train/device.py, the
    trainer's own resolution, not a crash probing the memory of a GPU that is not there."""
    from types import SimpleNamespace

    import torch

    from stockformer.config import config_from_dict
    from stockformer.train.run import _check_memory

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    features = SimpleNamespace(symbols=[f"S{i}" for i in range(10)], feature_names=["f"] * 6)
    with pytest.raises(ResourceError, match="CUDA is not available"):
        _check_memory(config_from_dict({"train": {"device": "cuda"}}), features)
    monkeypatch.setenv("STOCKFORMER_SKIP_MEMORY_CHECK", "1")
    _check_memory(config_from_dict({"train": {"device": "auto"}}), features)  # auto: the CPU
