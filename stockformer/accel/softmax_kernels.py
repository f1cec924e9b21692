"""Fused CPU kernel for the copy step's scores: key-masked softmax over each row plus, in the
same pass, each key's argmax over the valid queries (the query that attends to it most).

torch does this in four passes over the [G, N, N] scores (masked_fill, softmax, masked_fill of
invalid queries, max over dim -2, the last a slow strided reduction), which together cost more
than the step's two matmuls. Here one pass per row, threads over graphs (timings:
docs/BENCHMARKS.md). bf16 is handled as its 16-bit pattern (numba has no bf16) and
computed in fp32; numba's exp does not vectorize without SVML, so exp is written out below
(Cody-Waite reduction, degree-7 polynomial: relative error < 1e-6, tested), and the row max is
an integer max over order-preserving keys (numba's float max reductions stay scalar).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import torch

from stockformer.accel.float_bits import as_bits as _bits
from stockformer.accel.float_bits import load_row, row_buffer, store_row

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)  # ln 2 split so n * _LN2_HI is exact for |n| <= 127
_LN2_LO = np.float32(-2.12194440e-4)


_NEG_BITS = np.int32(np.float32(-3.0e38).view(np.int32))  # a finite stand-in for -inf
_MAGNITUDE = np.int32(0x7FFFFFFF)


@nb.njit(inline="always")
def _order_key(bits):
    """An int32 that orders like the float32 with these bits (numba's float max reductions do
    not vectorize; integer ones do)."""
    return bits ^ ((bits >> np.int32(31)) & _MAGNITUDE)


@nb.njit(inline="always")
def _softmax_row(xi, x, ok, count, p, scratch, scratch_f):
    """p = softmax over the keys where ok (others exactly 0) of the float32 row whose bits are
    xi (and whose float view is x); xi is masked in place. scratch / scratch_f: an int32 /
    float32 view of one buffer of `count` values."""
    top = _order_key(_NEG_BITS)
    for j in range(count):
        b = xi[j] if ok[j] else _NEG_BITS
        xi[j] = b
        top = max(top, _order_key(b))
    scratch[0] = _order_key(top)
    m = scratch_f[0]
    one = np.float32(1.0)
    # exp(x - m): Cody-Waite reduction x = n ln2 + r, a degree-7 polynomial for exp(r), and
    # 2**n built from its bits (numba's exp is a scalar call without SVML)
    for j in range(count):
        v = max(x[j] - m, np.float32(-87.0))
        n = np.floor(v * _LOG2E + np.float32(0.5))
        r = v - n * _LN2_HI - n * _LN2_LO
        p[j] = one + r * (one + r * (np.float32(0.5) + r * (np.float32(1 / 6) + r * (np.float32(1 / 24) + r * (
            np.float32(1 / 120) + r * (np.float32(1 / 720) + r * np.float32(1 / 5040)))))))
        scratch[j] = (np.int32(n) + np.int32(127)) << np.int32(23)
    s = np.float32(0.0)
    for j in range(count):
        e = p[j] * scratch_f[j] * np.float32(ok[j])
        p[j] = e
        s += e
    if s == np.float32(0.0):  # no usable key: uniform, as torch's softmax of an all-masked row
        for j in range(count):
            p[j] = one / np.float32(count)
        return
    inv = one / s
    for j in range(count):
        p[j] = p[j] * inv


@nb.njit(parallel=True, cache=True, fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})
def _masked_softmax_colmax(scores, bf16, key_ok, heads, q0, out, best, arg) -> None:
    """scores / out: [GH, nq, N] as the int32 bits of float32 or, when bf16, the uint16 bits of
    bf16; key_ok [G, N]; best [GH, N] float32 and arg [GH, N] int32 carry the running column
    max over query blocks (this block's queries are q0 .. q0 + nq - 1)."""
    gh_count, nq, n = scores.shape
    for gh in nb.prange(gh_count):
        ok = key_ok[gh // heads]
        bst, ag = best[gh], arg[gh]
        x, xi = row_buffer(n)
        p, pi = row_buffer(n)
        scratch_f, scratch = row_buffer(n)
        for i in range(nq):
            load_row(scores[gh, i], bf16, xi)
            _softmax_row(xi, x, ok, n, p, scratch, scratch_f)
            query = np.int32(q0 + i)
            if ok[query]:  # invalid queries are never copied from
                for j in range(n):
                    better = p[j] > bst[j]
                    bst[j] = p[j] if better else bst[j]
                    ag[j] = query if better else ag[j]
            store_row(pi, bf16, out[gh, i])


def supports(scores: torch.Tensor) -> bool:
    return scores.device.type == "cpu" and scores.dtype in (torch.float32, torch.bfloat16)


class MaskedSoftmaxColumnArgmax(torch.autograd.Function):
    """probs = softmax(scores masked to key_ok) over the last dim, updating best / arg in place
    with each key's most-attending valid query. scores [G, H, nq, N] (CPU, fp32 or bf16),
    key_ok [G, N] bool, q0 = index of this block's first query. Backward: softmax's."""

    @staticmethod
    def forward(ctx, scores, key_ok, q0: int, best, arg):
        g, h, nq, n = scores.shape
        scores = scores.contiguous()
        probs = torch.empty_like(scores)
        _masked_softmax_colmax(
            _bits(scores.view(g * h, nq, n)), scores.dtype == torch.bfloat16, key_ok.contiguous().numpy(),
            h, q0, _bits(probs.view(g * h, nq, n)), best.view(g * h, n).numpy(), arg.view(g * h, n).numpy(),
        )
        ctx.save_for_backward(probs)
        return probs

    @staticmethod
    def backward(ctx, grad):
        (probs,) = ctx.saved_tensors
        return torch._softmax_backward_data(grad.contiguous(), probs, -1, probs.dtype), None, None, None, None
