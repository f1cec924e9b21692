"""Bit-level float rows for the numba CPU kernels (numba has no bf16).

A kernel sees a bf16 tensor as its uint16 bit patterns and a float32 tensor as int32 bits,
computes in float32 row buffers, and stores bf16 rounded to nearest even.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import torch

_I32 = np.int32
_F32 = np.float32


def as_bits(t: torch.Tensor) -> np.ndarray:
    """The bit patterns of a CPU tensor: uint16 for bf16, int32 for float32 (shared memory)."""
    return t.view(torch.int16).numpy().view(np.uint16) if t.dtype == torch.bfloat16 else t.view(torch.int32).numpy()


@nb.njit(inline="always")
def row_buffer(d):
    """A float32 row buffer and its int32 view (bit-level loads and stores)."""
    buf = np.empty(d, _F32)
    return buf, buf.view(_I32)


@nb.njit(inline="always")
def load_row(src, bf16, out_bits):
    """One row of bits into a float32 buffer, given as its int32 view."""
    if bf16:
        for j in range(out_bits.shape[0]):
            out_bits[j] = _I32(src[j]) << _I32(16)
    else:
        for j in range(out_bits.shape[0]):
            out_bits[j] = _I32(src[j])


@nb.njit(inline="always")
def store_row(buf_bits, bf16, dst):
    """A float32 row (as int32 bits) into dst: bf16 bits rounded to nearest even, or fp32 bits."""
    if bf16:
        for j in range(dst.shape[0]):
            b = buf_bits[j]
            dst[j] = (b + _I32(0x7FFF) + ((b >> _I32(16)) & _I32(1))) >> _I32(16)
    else:
        for j in range(dst.shape[0]):
            dst[j] = buf_bits[j]
