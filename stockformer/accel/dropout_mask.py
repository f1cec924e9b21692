"""Dropout masks drawn by a parallel counter-based generator on CPU.

torch's CPU generator (mt19937) is serial, and the paper configuration draws ~50 masks of
[12, 20, 255, 128] per checkpointed training step. Here one 64-bit seed is
taken from torch's generator (so torch.manual_seed still fixes every mask and activation
checkpointing replays the same ones), split into two 32-bit keys; value pair g then comes from
the 32-bit hash lowbias32(lowbias32(g + key0) ^ key1) (C. Wellons' hash prospector: a bijection
of g with near-ideal avalanche), 16 bits per value, on all cores.

Everything is 32-bit integer arithmetic with branch-free selects and one word store per pair:
so the loop vectorizes on every AVX2 / AVX-512 CPU (a SplitMix64 version needed 64-bit vector
multiplies, which LLVM declines on Intel, so it ran scalar there). Timings: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import torch

_U32 = np.uint32
_I32 = np.int32
_BLOCK = 16384  # value pairs per parallel task


@nb.njit(inline="always")
def _lowbias32(x):
    x = _U32(x ^ (x >> _U32(16)))
    x = _U32(x * _U32(0x7FEB352D))
    x = _U32(x ^ (x >> _U32(15)))
    x = _U32(x * _U32(0x846CA68B))
    return _U32(x ^ (x >> _U32(16)))


@nb.njit(inline="always")
def pair_hash(g, key0, key1):
    """32 random bits for value pair g (a uint32 counter) under the keys (numba, inlined)."""
    return _lowbias32(_U32(_lowbias32(_U32(g + key0)) ^ key1))


@nb.njit(inline="always")
def pair_keep(g, key0, key1, cut):
    """Whether values 2g and 2g + 1 are kept (their 16-bit uniforms >= cut), as int32 masks:
    -1 (all bits) kept, 0 dropped. Branch-free, so loops over g vectorize."""
    x = pair_hash(g, key0, key1)
    lo = _I32(x & _U32(0xFFFF)) - _I32(cut)  # < 0: dropped
    hi = _I32(x >> _U32(16)) - _I32(cut)
    return ~(lo >> _I32(31)), ~(hi >> _I32(31))


@nb.njit(inline="always")
def _fill_block(start, stop, key0, key1, cut, on, shift, words) -> None:
    for g in range(start, stop):
        lo, hi = pair_keep(_U32(g), key0, key1, cut)
        words[g] = (lo & on) | ((hi & on) << shift)


@nb.njit(parallel=True, cache=True)
def _fill(key0, key1, cut, on, shift, words) -> None:
    """words[g] holds values 2g (low half) and 2g + 1 (high half, `shift` bits up): `on` where
    that value's 16-bit uniform is >= cut, else 0."""
    pairs = words.shape[0]
    for b in nb.prange((pairs + _BLOCK - 1) // _BLOCK):
        _fill_block(b * _BLOCK, min(pairs, (b + 1) * _BLOCK), key0, key1, _I32(cut), _I32(on), _I32(shift), words)


def quantized(p: float) -> tuple[int, float]:
    """p as a threshold on 16-bit uniforms (drop below `cut`) and the matching 1 / (1 - p)."""
    cut = round(p * 65536)
    return cut, 65536.0 / (65536 - cut)


def draw_keys() -> tuple[int, int]:
    """The generator's two 32-bit keys, from one 64-bit draw of torch's generator."""
    seed = int(torch.empty((), dtype=torch.int64).random_(-(2**63), None)) & (2**64 - 1)
    return seed & 0xFFFFFFFF, seed >> 32


def _draw(shape: torch.Size, cut: int, on_bits: int, bits: int) -> np.ndarray:
    """A flat array of prod(shape) `bits`-bit values (8 or 16): on_bits with probability
    1 - cut / 65536, else 0."""
    n = int(np.prod(shape, dtype=np.int64))
    pairs = (n + 1) // 2
    if pairs > 2**32:
        raise ValueError(f"dropout mask of {n} values: more than the generator's 2**33")
    key0, key1 = draw_keys()
    words = np.empty(pairs, dtype=np.uint32 if bits == 16 else np.uint16)
    _fill(_U32(key0), _U32(key1), cut, on_bits, bits, words)
    return words.view(np.uint16 if bits == 16 else np.uint8)[:n]


def cpu_keep_mask(shape: torch.Size, cut: int) -> torch.Tensor:
    """Bool mask of `shape`, True with probability 1 - cut / 65536."""
    return torch.from_numpy(_draw(shape, cut, 1, 8)).view(torch.bool).view(shape)


def cpu_scaled_mask(shape: torch.Size, cut: int, scale: float, dtype: torch.dtype) -> torch.Tensor:
    """A 2-byte float (bf16 / fp16) mask of `shape`: `scale` (rounded to dtype) with probability
    1 - cut / 65536, else 0. Multiplying by it is one pass; a bool mask would be converted to
    the activations' dtype first."""
    bits = torch.tensor(scale, dtype=dtype).view(torch.int16).item() & 0xFFFF
    out = _draw(shape, cut, bits, 16)
    return torch.from_numpy(out.view(np.int16)).view(dtype).view(shape)
