"""panel -> FeatureSet: factor families, preprocessing, labels, masks; cached by fingerprint.

Features are computed in date chunks (each chunk needs only the dense raw arrays), so a caller
can build any date range (`dates=slice(...)`) or stream chunks (`iter_feature_chunks`) without
ever holding the full [T, N, F] tensor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from stockformer.config import FeaturesConfig
from stockformer.factors import chunk_kernel
from stockformer.factors.cache import cache_path, fingerprint
from stockformer.factors.dense import DensePanel, ffill, to_dense
from stockformer.factors.families import FamilyLayout, layout
from stockformer.factors.featureset import FeatureSet
from stockformer.factors.history import OwnHistory, make_history
from stockformer.factors.labels import daily_returns, label_lag, make_labels
from stockformer.factors.store import open_store, store_path, write_store

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Dense inputs plus everything that is computed once for all date chunks."""

    dp: DensePanel
    hist: OwnHistory
    layout: FamilyLayout
    cfg: FeaturesConfig
    labels: np.ndarray
    mask: np.ndarray
    returns: np.ndarray
    log_mcap: np.ndarray | None
    report: dict

    @property
    def feature_names(self) -> list[str]:
        return self.layout.names


def prepare(panel: pl.DataFrame, cfg: FeaturesConfig, source: str = "panel") -> Prepared:
    dp = to_dense(panel, source)
    hist, a_report = make_history(dp, cfg.fillna)
    labels, mask, l_report = make_labels(dp, cfg.label_horizon, cfg.label_price, cfg.min_history)
    log_mcap = None
    if "market_cap" in dp.fields:
        with np.errstate(invalid="ignore", divide="ignore"):
            log_mcap = np.log(np.where(dp.fields["market_cap"] > 0, dp.fields["market_cap"], np.nan))
        log_mcap = ffill(log_mcap)  # exposures of a suspended day = its last known ones
    if dp.industry is not None:
        codes = np.where(dp.industry >= 0, dp.industry.astype(np.float64), np.nan)
        dp.industry = np.nan_to_num(ffill(codes), nan=-1.0).astype(np.int32)
    report = {**dp.report, "families": list(cfg.families), **a_report, **l_report}
    if cfg.neutralize:
        missing = [c for c, x in (("industry", dp.industry), ("market_cap", log_mcap)) if x is None]
        report["neutralize_on"] = [c for c in ("industry", "market_cap") if c not in missing]
        if missing:
            report["neutralize_note"] = f"panel has no {' / '.join(missing)}: not used"
    return Prepared(dp, hist, layout(cfg), cfg, labels, mask, daily_returns(dp), log_mcap,
                    report)


def process_block(
    prep: Prepared, start: int, stop: int, stats: dict | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Factors + preprocessing for dates [start, stop): float32 [C, N, F], written into `out`
    when given (C-contiguous float32 of that shape: saves allocating and copying a chunk)."""
    cfg = prep.cfg
    dp = prep.dp
    lay = prep.layout
    src = np.ascontiguousarray(prep.hist.source[start:stop])  # -1: a stock without features
    c, n = src.shape
    neutral = cfg.neutralize and (dp.industry is not None or prep.log_mcap is not None)
    industry = np.full((c, n), -1, dtype=np.int32) if dp.industry is None else (
        np.ascontiguousarray(dp.industry[start:stop]))
    log_mcap = np.full((c, n), np.nan) if prep.log_mcap is None else (
        np.ascontiguousarray(prep.log_mcap[start:stop]))
    shape = (c, n, lay.n_features)
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"process_block: out must be C-contiguous float32 {shape}")
    k = cfg.clip_mad if cfg.clip_mad is not None else 0.0
    per_date = chunk_kernel.features_chunk(
        lay.codes, lay.offsets, prep.hist.comp, src, lay.window, k, cfg.clip_mad is not None,
        cfg.zscore, neutral, industry, log_mcap, len(dp.industry_names) + 1, out)
    if stats is not None:
        totals = per_date.sum(axis=0)
        add = {"nan_to_zero_cells": totals[0]}
        if neutral:
            add["dates_neutralized"] = totals[1]
            add["no_industry_cells"] = totals[2] if dp.industry is not None else 0
            add["no_market_cap_cells"] = totals[3] if prep.log_mcap is not None else 0
        for key, v in add.items():
            stats[key] = stats.get(key, 0) + int(v)
    return out


def iter_feature_chunks(
    prep: Prepared, start: int = 0, stop: int | None = None, chunk: int = 32,
    stats: dict | None = None, reuse: bool = False,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield (a, b, features [b - a, N, F] float32) for consecutive date chunks. With reuse,
    every chunk is written into the same buffer (valid until the next step): a stream that
    consumes each chunk at once skips a fresh 230 MB allocation (page faults) per chunk."""
    stop = prep.dp.shape[0] if stop is None else stop
    buf = None
    for a in range(start, stop, chunk):
        b = min(a + chunk, stop)
        if reuse:
            if buf is None:
                buf = np.empty((min(chunk, stop - start), prep.dp.shape[1],
                                prep.layout.n_features), dtype=np.float32)
            yield a, b, process_block(prep, a, b, stats, out=buf[: b - a])
        else:
            yield a, b, process_block(prep, a, b, stats)


def _industries(dp: DensePanel) -> list[str | None] | None:
    if dp.industry is None:
        return None
    codes = np.where(dp.industry >= 0, dp.industry, -1)
    # last known industry per stock
    t = codes.shape[0]
    last = np.where(codes >= 0, np.arange(t)[:, None], -1).max(axis=0)
    out: list[str | None] = []
    for n, row in enumerate(last):
        out.append(None if row < 0 else dp.industry_names[codes[row, n]])
    return out


def _side_fields(prep: Prepared, sl: slice, stats: dict) -> dict:
    """Every FeatureSet field but the features, for dates `sl`."""
    t, n = len(prep.dp.dates[sl]), len(prep.dp.symbols)
    return dict(
        returns=prep.returns[sl],
        labels=prep.labels[sl],
        mask=prep.mask[sl],
        valid=prep.dp.valid[sl].copy(),
        dates=prep.dp.dates[sl],
        symbols=list(prep.dp.symbols),
        feature_names=prep.feature_names,
        industries=_industries(prep.dp),
        label_lag=label_lag(prep.cfg.label_horizon),
        report={**prep.report, **stats, "features_shape": [t, n, len(prep.feature_names)]},
    )


def _build_store(panel: pl.DataFrame, cfg: FeaturesConfig, *, use_cache: bool,
                 chunk: int) -> FeatureSet:
    """features.store = memmap: open the store of this (panel, config), or stream one to disk
    chunk by chunk (one chunk buffer in RAM, reused) and open it."""
    path = store_path(cfg.cache_dir, fingerprint(panel, cfg))  # type: ignore[arg-type]
    if use_cache and path.is_dir():
        log.info("features: store hit %s", path)
        fs = open_store(path)  # a corrupt store is one DataError naming it
        fs.report = {**fs.report, "cache": "hit", "cache_path": str(path)}
        return fs
    prep = prepare(panel, cfg)
    t, n = prep.dp.shape
    stats: dict = {}
    chunks = iter_feature_chunks(prep, chunk=chunk, stats=stats, reuse=True)
    fs = write_store(path, (t, n, len(prep.feature_names)), chunks,
                     lambda: _side_fields(prep, slice(0, t), stats))
    fs.report = {**fs.report, "cache": "miss", "cache_path": str(path)}
    return fs


def build_features(
    panel: pl.DataFrame,
    cfg: FeaturesConfig,
    *,
    use_cache: bool = True,
    dates: slice | None = None,
    chunk: int = 32,
) -> FeatureSet:
    """Build (or load from cache) the FeatureSet; `dates` restricts it to a date range
    (positions on the panel's calendar; labels and masks still use the whole panel).
    With `features.store: memmap` the whole range streams to a store on disk and the returned
    features are a read-only np.memmap of it (a `dates` range is small: built in memory)."""
    if cfg.store == "memmap" and dates is None:
        return _build_store(panel, cfg, use_cache=use_cache, chunk=chunk)
    key = None
    if use_cache and cfg.cache_dir is not None and dates is None:
        key = fingerprint(panel, cfg)
        path = cache_path(cfg.cache_dir, key)
        if path.is_file():
            log.info("features: cache hit %s", path)
            fs = FeatureSet.load(path)
            fs.report = {**fs.report, "cache": "hit", "cache_path": str(path)}
            return fs
    prep = prepare(panel, cfg)
    t = prep.dp.shape[0]
    start, stop, _ = (dates or slice(None)).indices(t)
    stop = max(stop, start)
    n, f = len(prep.dp.symbols), len(prep.feature_names)
    feats = np.empty((stop - start, n, f), dtype=np.float32)
    stats: dict = {}
    for a in range(start, stop, chunk):  # each chunk straight into its place
        b = min(a + chunk, stop)
        process_block(prep, a, b, stats, out=feats[a - start : b - start])
    fs = FeatureSet(features=feats, **_side_fields(prep, slice(start, stop), stats))
    if key is not None:
        path = cache_path(cfg.cache_dir, key)  # type: ignore[arg-type]
        fs.save(path)
        fs.report["cache"] = "miss"
        fs.report["cache_path"] = str(path)
    return fs


__all__ = ["Prepared", "build_features", "iter_feature_chunks", "prepare", "process_block"]
