"""Dropout fused with its neighbours on CPU (numba): the post-norm residual
LayerNorm(h + dropout(a)) that closes every sub-layer, and dropout(relu(x)) inside every FFN.
In both the mask is never stored: it is a hash of (seed, element) (dropout_mask's generator),
recomputed in backward where needed.

- residual_norm: at the paper's size (61,200 rows of d = 128, bf16) torch needs four
  memory-bound passes forward (mask, multiply, add, norm) and three backward, in each of the 14
  such blocks of a step, twice forward under activation checkpointing. Here one pass each way;
  it saves r = h + dropout(a) in the activations' dtype and two floats per row.
- relu_dropout: y = relu(x) * mask * scale saves nothing of its own. Its backward is
  grad * scale * (y > 0): y > 0 exactly where x > 0 and the value was kept, and y is kept
  anyway as the next Linear's input (torch saves relu's output and the mask: two more tensors).

bf16 tensors are handled as 16-bit patterns (numba has no bf16) and computed in fp32; r is
rounded to bf16 before the norm so backward sees exactly what forward normalised.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import torch

from stockformer.accel.dropout_mask import draw_keys, pair_keep
from stockformer.accel.dropout_mask import quantized as _quantized
from stockformer.accel.float_bits import as_bits as _bits
from stockformer.accel.float_bits import load_row, row_buffer, store_row

_U32 = np.uint32
_I32 = np.int32
_F32 = np.float32
_ROWS = 256  # rows per parallel task
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


@nb.njit(inline="always")
def _keep(row, half, key0, key1, cut, scale, keep):
    """The row's dropout multipliers: value j < half uses the low 16 bits of hash(row * half + j),
    value half + j the high 16 bits (two contiguous loops: they vectorize)."""
    base = _U32(row * half)
    for j in range(half):
        lo, hi = pair_keep(_U32(base + _U32(j)), key0, key1, cut)
        keep[j] = scale * _F32(lo & _I32(1))
        keep[half + j] = scale * _F32(hi & _I32(1))


@nb.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _forward(h, a, a_bias, bf16, drop, key0, key1, cut, scale, w, b, eps, y, r, mean, rstd) -> None:
    """r = h + (a + a_bias) * multiplier, y = LayerNorm(r); h, a, y, r: [rows, d] bits (uint16
    bf16 or int32 fp32); a_bias, w, b [d] and mean / rstd [rows] float32."""
    rows, d = h.shape
    half = d // 2
    for blk in nb.prange((rows + _ROWS - 1) // _ROWS):
        x, xi = row_buffer(d)
        t, ti = row_buffer(d)
        keep = np.ones(d, _F32)
        for row in range(blk * _ROWS, min(rows, (blk + 1) * _ROWS)):
            load_row(h[row], bf16, xi)
            load_row(a[row], bf16, ti)
            if drop:
                _keep(row, half, key0, key1, cut, scale, keep)
            for j in range(d):
                t[j] = x[j] + (t[j] + a_bias[j]) * keep[j]
            store_row(ti, bf16, r[row])
            if bf16:  # normalise what was stored
                load_row(r[row], bf16, ti)
            s = _F32(0.0)
            for j in range(d):
                s += t[j]
            mu = s / _F32(d)
            v = _F32(0.0)
            for j in range(d):
                c = t[j] - mu
                v += c * c
            rs = _F32(1.0) / np.sqrt(v / _F32(d) + eps)
            mean[row] = mu
            rstd[row] = rs
            for j in range(d):
                x[j] = (t[j] - mu) * rs * w[j] + b[j]
            store_row(xi, bf16, y[row])


@nb.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _backward(gy, r, bf16, mean, rstd, w, drop, key0, key1, cut, scale, gh, ga, gw, gb, ga_sum) -> None:
    """gh = dL/dr, ga = dL/da (= gh * multiplier); gw / gb / ga_sum [tasks, d] float32: per-task
    sums for the norm's weight and bias and a's bias."""
    rows, d = r.shape
    half = d // 2
    for blk in nb.prange((rows + _ROWS - 1) // _ROWS):
        g, gi = row_buffer(d)
        xh, xhi = row_buffer(d)
        keep = np.ones(d, _F32)
        gw_t, gb_t, gs_t = gw[blk], gb[blk], ga_sum[blk]
        for row in range(blk * _ROWS, min(rows, (blk + 1) * _ROWS)):
            load_row(gy[row], bf16, gi)
            load_row(r[row], bf16, xhi)
            mu, rs = mean[row], rstd[row]
            c1 = _F32(0.0)
            c2 = _F32(0.0)
            for j in range(d):
                xh[j] = (xh[j] - mu) * rs
                gw_t[j] += g[j] * xh[j]
                gb_t[j] += g[j]
                gg = g[j] * w[j]
                c1 += gg
                c2 += gg * xh[j]
            c1 /= _F32(d)
            c2 /= _F32(d)
            for j in range(d):
                g[j] = rs * (g[j] * w[j] - c1 - xh[j] * c2)
            store_row(gi, bf16, gh[row])
            if drop:
                _keep(row, half, key0, key1, cut, scale, keep)
            for j in range(d):
                g[j] = g[j] * keep[j]
                gs_t[j] += g[j]
            store_row(gi, bf16, ga[row])


@nb.njit(cache=True)
def _multipliers(rows, d, key0, key1, cut, scale, out) -> None:
    half = d // 2
    for row in range(rows):
        _keep(row, half, key0, key1, cut, scale, out[row])


def dropout_multipliers(rows: int, d: int, keys: tuple[int, int], p: float) -> torch.Tensor:
    """[rows, d] float32: the kernel's dropout multipliers (0 or the scale) for these keys."""
    cut, scale = _quantized(p)
    out = np.empty((rows, d), dtype=np.float32)
    _multipliers(rows, d, _U32(keys[0]), _U32(keys[1]), _I32(cut), _F32(scale), out)
    return torch.from_numpy(out)


def _mask_params(p: float) -> tuple[bool, int, float, int, int]:
    """(drop, cut, scale, key0, key1) for dropout probability p; keys are drawn only when used."""
    cut, scale = _quantized(p)
    key0, key1 = draw_keys() if p > 0.0 else (0, 0)
    return p > 0.0, cut, scale, key0, key1


def _bias(bias: torch.Tensor | None, d: int) -> torch.Tensor:
    return torch.zeros(d) if bias is None else bias.detach().float().contiguous()


def _task_sums(rows: int, d: int) -> torch.Tensor:
    return torch.zeros((rows + _ROWS - 1) // _ROWS, d, dtype=torch.float32)


def _grad_like(total: torch.Tensor, param: torch.Tensor | None) -> torch.Tensor | None:
    return None if param is None else total.to(param.dtype)


class _ResidualNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, a, a_bias, weight, bias, p: float, eps: float):
        d = h.shape[-1]
        dtype = torch.promote_types(h.dtype, a.dtype)  # as torch's add
        h2 = h.to(dtype).contiguous().view(-1, d)
        a2 = a.to(dtype).contiguous().view(-1, d)
        rows = h2.shape[0]
        drop, cut, scale, key0, key1 = _mask_params(p)
        y = torch.empty_like(h2)
        r = torch.empty_like(h2)
        mean = torch.empty(rows, dtype=torch.float32)
        rstd = torch.empty(rows, dtype=torch.float32)
        w = weight.detach().float().contiguous()
        _forward(_bits(h2), _bits(a2), _bias(a_bias, d).numpy(), dtype == torch.bfloat16, drop, _U32(key0),
                 _U32(key1), _I32(cut), _F32(scale), w.numpy(), _bias(bias, d).numpy(), _F32(eps),
                 _bits(y), _bits(r), mean.numpy(), rstd.numpy())
        ctx.save_for_backward(r, mean, rstd, w)
        ctx.args = (drop, key0, key1, cut, scale, h.dtype, a.dtype, a.shape)
        ctx.params = (a_bias, weight, bias)
        return y.view(h.shape)

    @staticmethod
    def backward(ctx, grad):
        r, mean, rstd, w = ctx.saved_tensors
        drop, key0, key1, cut, scale, h_dtype, a_dtype, a_shape = ctx.args
        a_bias, weight, bias = ctx.params
        rows, d = r.shape
        gy = grad.to(r.dtype).contiguous().view(-1, d)
        gh = torch.empty_like(r)
        ga = torch.empty_like(r)
        gw, gb, ga_sum = _task_sums(rows, d), _task_sums(rows, d), _task_sums(rows, d)
        _backward(_bits(gy), _bits(r), r.dtype == torch.bfloat16, mean.numpy(), rstd.numpy(), w.numpy(), drop,
                  _U32(key0), _U32(key1), _I32(cut), _F32(scale), _bits(gh), _bits(ga), gw.numpy(), gb.numpy(),
                  ga_sum.numpy())
        return (gh.view(grad.shape).to(h_dtype), ga.view(a_shape).to(a_dtype), _grad_like(ga_sum.sum(0), a_bias),
                _grad_like(gw.sum(0), weight), _grad_like(gb.sum(0), bias), None, None)


@nb.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _relu_forward(x, x_bias, bf16, drop, key0, key1, cut, scale, y) -> None:
    """y = relu(x + x_bias) * multiplier, rows of x / y as bits (see _forward)."""
    rows, d = x.shape
    half = d // 2
    for blk in nb.prange((rows + _ROWS - 1) // _ROWS):
        v, vi = row_buffer(d)
        keep = np.ones(d, _F32)
        for row in range(blk * _ROWS, min(rows, (blk + 1) * _ROWS)):
            load_row(x[row], bf16, vi)
            if drop:
                _keep(row, half, key0, key1, cut, scale, keep)
            for j in range(d):
                v[j] = max(v[j] + x_bias[j], _F32(0.0)) * keep[j]
            store_row(vi, bf16, y[row])


@nb.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _relu_backward(gy, y_signed, bf16, scale, gx, gx_sum) -> None:
    """gx = gy * scale where y > 0, else 0; gx_sum [tasks, d]: per-task sums (the bias grad).
    y_signed: y's bits as signed ints (int16 / int32), > 0 exactly for positive floats."""
    rows, d = gy.shape
    for blk in nb.prange((rows + _ROWS - 1) // _ROWS):
        g, gi = row_buffer(d)
        gs_t = gx_sum[blk]
        for row in range(blk * _ROWS, min(rows, (blk + 1) * _ROWS)):
            load_row(gy[row], bf16, gi)
            pos = y_signed[row]
            for j in range(d):
                g[j] = g[j] * scale * _F32(pos[j] > 0)
                gs_t[j] += g[j]
            store_row(gi, bf16, gx[row])


def _signed_bits(t: torch.Tensor) -> np.ndarray:
    return t.view(torch.int16).numpy() if t.dtype == torch.bfloat16 else t.view(torch.int32).numpy()


class _ReluDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bias, p: float):
        d = x.shape[-1]
        x2 = x.contiguous().view(-1, d)
        drop, cut, scale, key0, key1 = _mask_params(p)
        y = torch.empty_like(x2)
        _relu_forward(_bits(x2), _bias(bias, d).numpy(), x.dtype == torch.bfloat16, drop, _U32(key0), _U32(key1),
                      _I32(cut), _F32(scale), _bits(y))
        ctx.save_for_backward(y)
        ctx.scale = scale
        ctx.bias = bias
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        rows, d = y.shape
        gy = grad.to(y.dtype).contiguous().view(y.shape)
        gx = torch.empty_like(y)
        gx_sum = _task_sums(rows, d)
        _relu_backward(_bits(gy), _signed_bits(y), y.dtype == torch.bfloat16, _F32(ctx.scale), _bits(gx),
                       gx_sum.numpy())
        return gx.view(grad.shape), _grad_like(gx_sum.sum(0), ctx.bias), None


def relu_dropout_fusable(x: torch.Tensor) -> bool:
    """Whether relu_dropout can run the fused kernel on x."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16) and x.shape[-1] % 2 == 0


def relu_dropout(x: torch.Tensor, p: float, bias: torch.Tensor | None = None) -> torch.Tensor:
    """dropout_p(relu(x + bias)) with the fused CPU kernel (check `relu_dropout_fusable`)."""
    return _ReluDropout.apply(x, bias, float(p))


def fusable(h: torch.Tensor, a: torch.Tensor, norm_shape: tuple[int, ...], affine: bool) -> bool:
    """Whether residual_norm can run the fused kernel on these tensors."""
    return (h.device.type == "cpu" and a.device.type == "cpu" and h.shape == a.shape
            and h.dtype in (torch.float32, torch.bfloat16) and a.dtype in (torch.float32, torch.bfloat16)
            and h.shape[-1] % 2 == 0 and affine and tuple(norm_shape) == (h.shape[-1],))


def residual_norm(h: torch.Tensor, a: torch.Tensor, p: float, weight: torch.Tensor, bias: torch.Tensor,
                  eps: float, a_bias: torch.Tensor | None = None) -> torch.Tensor:
    """LayerNorm(h + dropout_p(a + a_bias)) over the last dim with the fused CPU kernel (check
    `fusable`). a_bias: a preceding Linear's bias, added here instead of in its own pass."""
    return _ResidualNorm.apply(h, a, a_bias, weight, bias, float(p), float(eps))
