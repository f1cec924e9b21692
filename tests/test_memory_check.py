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
    assert d2 / d1 > 6  # quadratic term dominates
    assert s2 / s1 < 4.5  # linear


def test_refuses_with_a_suggestion_when_over_the_limit():
    cfg = ModelConfig()
    with pytest.raises(ResourceError, match=r"GiB.*try .*batch_size=6.*sparse"):
        check_memory(cfg, 5000, 360, 12, limit_gb=4.0)


def test_accepts_what_fits():
    est = check_memory(ModelConfig(d_model=16), 30, 360, 4, limit_gb=4.0)
    assert est.gib < 4.0
