from __future__ import annotations

import warnings

import numpy as np
import pytest
import pywt
import torch

from stockformer.errors import ConfigError
from stockformer.model.wavelet import WaveletSplit, wavelet_split_np


@pytest.mark.parametrize(("wavelet", "level", "length"), [
    ("sym2", 1, 20), ("sym2", 1, 2), ("db4", 2, 20), ("haar", 3, 21), ("coif1", 1, 7),
])
def test_torch_matches_pywavelets_and_reconstructs(wavelet, level, length):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3, length))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the short-signal warning must be handled inside
        low, high = wavelet_split_np(x, wavelet, level)
    assert low.shape == high.shape == x.shape
    np.testing.assert_allclose(low + high, x, atol=1e-9)
    mod = WaveletSplit(wavelet, level, length)
    tl, th = mod(torch.tensor(x, dtype=torch.float32))
    np.testing.assert_allclose(tl.numpy(), low, atol=1e-6)
    np.testing.assert_allclose(th.numpy(), high, atol=1e-6)
    np.testing.assert_allclose((tl + th).numpy(), x, atol=1e-6)


def test_low_band_is_the_approximation_reconstruction():
    x = np.random.default_rng(1).normal(size=20)
    low, high = wavelet_split_np(x, "sym2", 1)
    ca, cd = pywt.dwt(x, "sym2")
    np.testing.assert_allclose(low, pywt.idwt(ca, None, "sym2")[:20], atol=1e-12)
    np.testing.assert_allclose(high, pywt.idwt(None, cd, "sym2")[:20], atol=1e-12)
    assert np.std(np.diff(low)) < np.std(np.diff(high))  # low is the smoother band


def test_axis_argument_and_errors():
    x = np.random.default_rng(2).normal(size=(20, 5))
    low0, _ = wavelet_split_np(x, axis=0)
    low1, _ = wavelet_split_np(x.T, axis=-1)
    np.testing.assert_allclose(low0, low1.T)
    with pytest.raises(ConfigError, match="model.wavelet"):
        WaveletSplit("nope", 1, 20)
    with pytest.raises(ValueError, match="last dim"):
        WaveletSplit("sym2", 1, 20)(torch.zeros(3, 19))
