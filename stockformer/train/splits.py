"""Date splits into train / validation / test anchors (an anchor t = the prediction date).

An anchor needs t1 history days (t >= t1 - 1). Train and validation anchors are purged so that
the label of the last target step, realised at t + t2 - 1 + label_lag, lies inside their own
period; test anchors are all test days (targets beyond the data are masked later).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockformer.config import SplitConfig
from stockformer.errors import ConfigError


@dataclass
class Split:
    name: str
    train: np.ndarray  # int64 anchor indexes
    val: np.ndarray
    test: np.ndarray
    fit_end: int  # last train day: anything fitted uses rows <= fit_end


def _anchors(start: int, end: int, t1: int, reach: int | None) -> np.ndarray:
    """Anchors in [start, end] (inclusive) with t >= t1 - 1 and, when `reach` is given,
    t + reach <= end (the last target is realised inside the period)."""
    lo = max(start, t1 - 1)
    hi = end if reach is None else end - reach
    return np.arange(lo, hi + 1, dtype=np.int64) if hi >= lo else np.zeros(0, dtype=np.int64)


def _split(name: str, bounds: tuple[int, int, int, int, int, int], t1: int, reach: int) -> Split:
    tr0, tr1, va0, va1, te0, te1 = bounds
    return Split(
        name=name,
        train=_anchors(tr0, tr1, t1, reach),
        val=_anchors(va0, va1, t1, reach),
        test=_anchors(te0, te1, t1, None),
        fit_end=tr1,
    )


def _check(splits: list[Split], n: int) -> list[Split]:
    for s in splits:
        for part in ("train", "val", "test"):
            if len(getattr(s, part)) == 0:
                raise ConfigError(
                    f"split {s.name}: no {part} anchors ({n} dates; periods too short for "
                    "model.t1 / t2 and the label horizon)"
                )
    return splits


def make_splits(
    dates: np.ndarray, cfg: SplitConfig, *, t1: int, t2: int, label_lag: int
) -> list[Split]:
    dates = np.asarray(dates).astype("datetime64[D]")
    n = len(dates)
    reach = t2 - 1 + label_lag
    if cfg.scheme == "ratio":
        n_tr = int(round(n * cfg.ratios[0]))
        n_va = int(round(n * cfg.ratios[1]))
        b = (0, n_tr - 1, n_tr, n_tr + n_va - 1, n_tr + n_va, n - 1)
        return _check([_split("ratio", b, t1, reach)], n)
    if cfg.scheme == "dates":
        def last_on_or_before(d) -> int:
            return int(np.searchsorted(dates, np.datetime64(d, "D"), side="right")) - 1

        tr1 = last_on_or_before(cfg.train_end)
        va1 = last_on_or_before(cfg.val_end)
        te1 = n - 1 if cfg.test_end is None else last_on_or_before(cfg.test_end)
        if not (0 <= tr1 < va1 < te1):
            raise ConfigError(
                f"split dates: train_end {cfg.train_end} < val_end {cfg.val_end} < test_end "
                f"{cfg.test_end or dates[-1]} must each fall inside {dates[0]} .. {dates[-1]}"
            )
        return _check([_split("dates", (0, tr1, tr1 + 1, va1, va1 + 1, te1), t1, reach)], n)
    r = cfg.rolling
    total = r.train + r.val + r.test
    if total > n:
        raise ConfigError(
            f"split.rolling: one window needs {total} days (train {r.train} + val {r.val} + "
            f"test {r.test}), the data has {n}"
        )
    splits = []
    for k, s in enumerate(range(0, n - total + 1, r.step)):
        b = (s, s + r.train - 1, s + r.train, s + r.train + r.val - 1,
             s + r.train + r.val, s + total - 1)
        splits.append(_split(f"roll{k:02d}", b, t1, reach))
    return _check(splits, n)
