"""qlib's Alpha360: `window` days of CLOSE, OPEN, HIGH, LOW, VWAP over today's close and VOLUME
over today's volume, i = window - 1 .. 0, in qlib's name order (Alpha360DL)."""

from __future__ import annotations

import numba as nb
import numpy as np

from stockformer.factors.history import CLOSE, FIELDS, QLIB_EPS, VOLUME


def feature_names(window: int = 60) -> list[str]:
    return [f"{f.upper()}{i}" for f in FIELDS for i in range(window - 1, -1, -1)]


def lookback(window: int = 60) -> int:
    """Own-history days one date's factors read."""
    return window


@nb.njit(cache=True)
def alpha360_date(comp, src, window, out, off):  # pragma: no cover - compiled
    """One date's Alpha360 into out[n, off : off + 6 * window] (one stock's factors
    contiguous, so reads and writes stream). comp [6, N, H] own history, src [N] (-1: none)."""
    n_fields, n_n = comp.shape[0], src.shape[0]
    for n in range(n_n):
        s = src[n]
        dst = out[n]
        if s < 0:
            dst[off : off + n_fields * window] = np.nan
            continue
        close = comp[CLOSE, n, s]
        vol = comp[VOLUME, n, s] + QLIB_EPS
        for f in range(n_fields):
            base = vol if f == VOLUME else close
            series = comp[f, n]
            for k in range(window):
                r = s - (window - 1 - k)
                dst[off + f * window + k] = series[r] / base if r >= 0 else np.nan
