"""Feature build benchmark: Alpha360 + preprocessing + labels.

    python -m benchmarks.bench_factors [--stocks 5000] [--days 2500] [--chunk 32]
        [--pandas-stocks 300] [--memmap PATH]

Each measurement runs in a fresh process (peak RSS via resource.getrusage is per process).
The full-size build streams date chunks: each chunk is either written into a np.memmap on disk
(--memmap) or reduced (sum) and dropped, so the [T, N, 360] tensor (18 GB at full size) is
never held. The plain pandas reference (benchmarks.pandas_reference: Alpha360 + z-score +
labels, no clipping or neutralization) runs on a subset of stocks; ours on the same subset
does the whole pipeline.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import numpy as np


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _ours(stocks: int, days: int, chunk: int, memmap: str | None, q) -> None:
    from stockformer.config import FeaturesConfig
    from stockformer.factors.pipeline import iter_feature_chunks, prepare
    from stockformer.factors.random_panel import random_panel

    panel = random_panel(stocks, days, seed=0)
    base = _peak_gib()
    cfg = FeaturesConfig(cache_dir=None)
    t0 = time.perf_counter()
    prep = prepare(panel, cfg)
    t_prep = time.perf_counter() - t0
    t, n = prep.dp.shape
    f = len(prep.feature_names)
    out = None
    if memmap:
        out = np.lib.format.open_memmap(memmap, mode="w+", dtype=np.float32, shape=(t, n, f))
    total = 0.0
    for a, b, x in iter_feature_chunks(prep, chunk=chunk):
        if out is not None:
            out[a:b] = x
        else:
            total += float(x.sum(dtype=np.float64))
    if out is not None:
        out.flush()
    secs = time.perf_counter() - t0
    q.put({"what": "ours", "stocks": n, "days": t, "seconds": secs, "prepare_s": t_prep,
           "peak_gib": _peak_gib(), "panel_gib": base, "rows": panel.height, "check": total})


def _pandas(stocks: int, days: int, q) -> None:
    from benchmarks.pandas_reference import alpha360_pandas, labels_pandas, zscore_pandas
    from stockformer.factors.random_panel import random_panel

    df = random_panel(stocks, days, seed=0).to_pandas()
    t0 = time.perf_counter()
    feat = alpha360_pandas(df)
    feat = zscore_pandas(feat).fillna(0.0)
    labels_pandas(df)
    secs = time.perf_counter() - t0
    q.put({"what": "pandas", "stocks": stocks, "days": days, "seconds": secs,
           "peak_gib": _peak_gib(), "rows": len(df)})


def _run(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    res = q.get()
    p.join()
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--days", type=int, default=2500)
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--pandas-stocks", type=int, default=300)
    ap.add_argument("--memmap", default=None)
    args = ap.parse_args()
    rows = []
    sub = args.pandas_stocks
    _run(_ours, 50, 100, args.chunk, None)  # warm the numba cache outside the timings
    rows.append(_run(_pandas, sub, args.days))
    rows.append(_run(_ours, sub, args.days, args.chunk, None))
    rows.append(_run(_ours, args.stocks, args.days, args.chunk, args.memmap))
    print("| build | stocks x days | rows | seconds | of which prepare | peak RSS GiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        what = "pandas reference (Alpha360 + z-score + labels)" if r["what"] == "pandas" else (
            "stockformer (Alpha360 + ffill + MAD clip + z-score + neutralize + labels)"
            + (", streamed to memmap" if args.memmap and r["stocks"] == args.stocks else
               ", chunks reduced"))
        prep = f"{r['prepare_s']:.1f}" if "prepare_s" in r else "-"
        print(f"| {what} | {r['stocks']} x {r['days']} | {r['rows']:,} | {r['seconds']:.1f} | "
              f"{prep} | {r['peak_gib']:.2f} |")
    speedup = rows[0]["seconds"] / rows[1]["seconds"]
    print(f"\nspeed-up over pandas on {sub} stocks x {args.days} days: {speedup:.1f}x")


if __name__ == "__main__":
    main()
