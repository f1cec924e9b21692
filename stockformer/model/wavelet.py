"""Wavelet split of a window into a low band and a high band, each at full length.

low = inverse DWT with every detail band zeroed (approximation only); high = inverse DWT with
the approximation zeroed (all details). The DWT is linear, so low + high == x. The torch module
precomputes both maps as [L, L] matrices from PyWavelets (transforming the identity basis) and
applies them with a matmul: exact, fast and device-agnostic.
"""

from __future__ import annotations

import warnings

import numpy as np
import pywt
import torch
from torch import nn

from stockformer.errors import ConfigError

MODE = "symmetric"  # PyWavelets' default signal extension


def check_wavelet(wavelet: str) -> None:
    if wavelet not in pywt.wavelist(kind="discrete"):
        raise ConfigError(f"model.wavelet: {wavelet!r} is not a discrete PyWavelets wavelet")


def wavelet_split_np(
    x: np.ndarray, wavelet: str = "sym2", level: int = 1, axis: int = -1
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) along `axis`, each the shape of x. Short signals (e.g. the 2-day target
    window) are allowed: PyWavelets' boundary-effect warning is silenced, the split stays exact."""
    check_wavelet(wavelet)
    x = np.asarray(x, dtype=np.float64)
    length = x.shape[axis]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        coeffs = pywt.wavedec(x, wavelet, mode=MODE, level=level, axis=axis)
        low_c = [coeffs[0]] + [np.zeros_like(c) for c in coeffs[1:]]
        high_c = [np.zeros_like(coeffs[0])] + list(coeffs[1:])
        low = pywt.waverec(low_c, wavelet, mode=MODE, axis=axis)
        high = pywt.waverec(high_c, wavelet, mode=MODE, axis=axis)
    take = [slice(None)] * x.ndim
    take[axis] = slice(0, length)  # waverec can return one extra sample for odd lengths
    return low[tuple(take)], high[tuple(take)]


def split_matrices(wavelet: str, level: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """[L, L] maps with low = x @ M_low, high = x @ M_high (rows = images of basis vectors)."""
    eye = np.eye(length)
    return wavelet_split_np(eye, wavelet, level, axis=-1)


class WaveletSplit(nn.Module):
    """[..., L] -> (low, high), each [..., L]; matches PyWavelets, low + high == x."""

    def __init__(self, wavelet: str = "sym2", level: int = 1, length: int = 20) -> None:
        super().__init__()
        check_wavelet(wavelet)
        m_low, m_high = split_matrices(wavelet, level, length)
        self.wavelet, self.level, self.length = wavelet, level, length
        self.register_buffer("m_low", torch.tensor(m_low, dtype=torch.float32), persistent=False)
        self.register_buffer("m_high", torch.tensor(m_high, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-1] != self.length:
            raise ValueError(f"WaveletSplit: last dim {x.shape[-1]}, expected {self.length}")
        return x @ self.m_low.to(x.dtype), x @ self.m_high.to(x.dtype)
