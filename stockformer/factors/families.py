"""Factor families behind one interface: names, lookback and a compiled per-date kernel each.

`features.families` picks them; their factors are concatenated in that order and then go
through the same preprocessing (chunk_kernel.py). Every family reads the stock's own trading
history (history.py) and writes one date's raw factors into rows [N, F] at its column offset.

A new family: a module with `feature_names`, `lookback` and an njit kernel
`kernel(comp, src, window, out, off)` like alpha360.py / alpha158.py, then an entry in FAMILIES,
a branch in raw_date (numba dispatches on the code) and its name in config.FactorFamily.
numba's on-disk cache keys each function on its own file's content only: after editing a
family's kernel, delete stockformer/factors/__pycache__/{families,chunk_kernel}.*.nb* or the
dispatchers here and in chunk_kernel.py keep running the old kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba as nb
import numpy as np

from stockformer.config import FeaturesConfig
from stockformer.factors import alpha158, alpha360
from stockformer.factors.dense import DensePanel
from stockformer.factors.history import OwnHistory, make_history


@dataclass(frozen=True)
class Family:
    name: str
    code: int  # raw_date's branch
    names: Callable[[FeaturesConfig], list[str]]
    lookback: Callable[[FeaturesConfig], int]  # own-history days one date reads


ALPHA360, ALPHA158 = 0, 1
FAMILIES: dict[str, Family] = {
    "alpha360": Family("alpha360", ALPHA360, lambda cfg: alpha360.feature_names(cfg.window),
                       lambda cfg: alpha360.lookback(cfg.window)),
    "alpha158": Family("alpha158", ALPHA158, lambda cfg: alpha158.feature_names(),
                       lambda cfg: alpha158.lookback()),
}


@dataclass(frozen=True)
class FamilyLayout:
    """The chosen families' codes and column offsets, as the compiled kernels take them."""

    codes: np.ndarray  # int64 [K]
    offsets: np.ndarray  # int64 [K]
    names: list[str]
    window: int

    @property
    def n_features(self) -> int:
        return len(self.names)


def layout(cfg: FeaturesConfig) -> FamilyLayout:
    codes, offsets, names = [], [], []
    for name in cfg.families:
        fam = FAMILIES[name]
        codes.append(fam.code)
        offsets.append(len(names))
        names += fam.names(cfg)
    return FamilyLayout(np.array(codes, np.int64), np.array(offsets, np.int64), names,
                        cfg.window)


def lookback(cfg: FeaturesConfig) -> int:
    """Own-history days the chosen families read for one date (the raw history a build of the
    last days needs, before suspensions)."""
    return max(FAMILIES[name].lookback(cfg) for name in cfg.families)


@nb.njit(cache=True)
def raw_date(codes, offsets, comp, src, window, out):  # pragma: no cover - compiled
    """Every chosen family's raw factors of one date into out [N, F] (src [N])."""
    for i in range(codes.shape[0]):
        if codes[i] == ALPHA360:
            alpha360.alpha360_date(comp, src, window, out, offsets[i])
        elif codes[i] == ALPHA158:
            alpha158.alpha158_date(comp, src, out, offsets[i])


@nb.njit(parallel=True, cache=True)
def _raw_chunk(codes, offsets, comp, src, window, out):  # pragma: no cover - compiled
    for c in nb.prange(src.shape[0]):
        raw_date(codes, offsets, comp, src[c], window, out[c])


def raw_dense(dp: DensePanel, cfg: FeaturesConfig) -> np.ndarray:
    """Raw (unprocessed) factors of the chosen families for the whole panel: float32 [T, N, F],
    NaN where unknown. Small panels only (tests, references)."""
    hist, _ = make_history(dp, cfg.fillna)
    return raw_block(hist, layout(cfg), 0, dp.shape[0])


def raw_block(hist: OwnHistory, lay: FamilyLayout, start: int, stop: int) -> np.ndarray:
    src = np.ascontiguousarray(hist.source[start:stop])
    out = np.empty((*src.shape, lay.n_features), dtype=np.float32)
    _raw_chunk(lay.codes, lay.offsets, hist.comp, src, lay.window, out)
    return out
