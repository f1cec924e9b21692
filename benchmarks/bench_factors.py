"""Feature build benchmark: Alpha360 + preprocessing + labels, ours against plain pandas.

    python -m benchmarks.bench_factors [--stocks 5000] [--days 2500] [--chunk 32]
        [--subsets 300x1250,1000x500] [--memmap PATH] [--skip-full]

Each measurement runs in a fresh process (peak RSS via resource.getrusage is per process and
includes the input panel; "cpu s" is the process's CPU time over all threads, the fairer figure
on a shared machine). The full-size build streams date chunks: each chunk is either written
into a np.memmap on disk (--memmap) or reduced (sum) and dropped, so the [T, N, 360] tensor
(18 GB at full size) is never held. The pandas reference (benchmarks.pandas_reference) does the
same steps with the same output (tests/test_factors_reference.py); it runs on the subsets
(its frames need ~4 GiB per million stock-days, so 1,000 x 2,500 would need ~10 GiB x 3) and
ours runs on the same subsets in the same invocation.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time

import numpy as np


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _ours(stocks: int, days: int, chunk: int, memmap: str | None, q) -> None:
    from stockformer.config import FeaturesConfig
    from stockformer.data.random_panel import random_panel
    from stockformer.factors.pipeline import iter_feature_chunks, prepare, process_block

    panel = random_panel(stocks, days, seed=0)
    cfg = FeaturesConfig(cache_dir=None)
    t0, c0 = time.perf_counter(), time.process_time()
    prep = prepare(panel, cfg)
    t_prep, c_prep = time.perf_counter() - t0, time.process_time() - c0
    t, n = prep.dp.shape
    f = len(prep.feature_names)
    out = None
    if memmap:
        out = np.lib.format.open_memmap(memmap, mode="w+", dtype=np.float32, shape=(t, n, f))
    total = 0.0
    for a, b, x in iter_feature_chunks(prep, chunk=chunk, reuse=out is None):
        if out is not None:
            out[a:b] = x
        else:
            total += float(x.sum(dtype=np.float64))
    if out is not None:
        out.flush()
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    # one more chunk on its own: the per-chunk cost to extrapolate from when the box is busy
    a = max(t - 2 * chunk, 0)
    t1, c1 = time.perf_counter(), time.process_time()
    process_block(prep, a, a + chunk)
    q.put({"what": "ours", "stocks": n, "days": t, "seconds": secs, "cpu": cpu,
           "prepare_s": t_prep, "prepare_cpu": c_prep, "chunk_s": time.perf_counter() - t1,
           "chunk_cpu": time.process_time() - c1, "chunks": -(-t // chunk),
           "peak_gib": _peak_gib(), "rows": panel.height, "check": total})


def _pandas(stocks: int, days: int, q) -> None:
    from threadpoolctl import threadpool_limits

    from benchmarks.pandas_reference import features_pandas, labels_pandas
    from stockformer.data.random_panel import random_panel

    df = random_panel(stocks, days, seed=0).to_pandas()
    t0, c0 = time.perf_counter(), time.process_time()
    with threadpool_limits(1):  # the per-date lstsq calls are tiny: threaded BLAS only spins
        features_pandas(df)
        labels_pandas(df)
    q.put({"what": "pandas", "stocks": stocks, "days": days, "seconds": time.perf_counter() - t0,
           "cpu": time.process_time() - c0, "peak_gib": _peak_gib(), "rows": len(df)})


def _run(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    res = q.get()
    p.join()
    return res


def _line(r: dict) -> str:
    what = ("pandas reference" if r["what"] == "pandas" else "stockformer")
    prep = f"{r['prepare_s']:.1f}" if "prepare_s" in r else "-"
    chunk = (f"{r['chunk_s']:.2f} / {r['chunk_cpu']:.2f}" if "chunk_s" in r else "-")
    return (f"| {what} | {r['stocks']} x {r['days']} | {r['rows']:,} | {r['seconds']:.1f} | "
            f"{r['cpu']:.1f} | {prep} | {chunk} | {r['peak_gib']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--days", type=int, default=2500)
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--subsets", default="300x1250,1000x500")
    ap.add_argument("--memmap", default=None)
    ap.add_argument("--skip-full", action="store_true")
    args = ap.parse_args()
    load = [os.getloadavg()]
    _run(_ours, 50, 100, args.chunk, None)  # compile / load the numba cache outside the timings
    rows, ratios = [], []
    for sub in filter(None, args.subsets.split(",")):
        n, t = (int(v) for v in sub.split("x"))
        pd_row = _run(_pandas, n, t)
        our_row = _run(_ours, n, t, args.chunk, None)
        rows += [pd_row, our_row]
        ratios.append((sub, pd_row["seconds"] / our_row["seconds"], pd_row["cpu"] / our_row["cpu"]))
    if not args.skip_full:
        rows.append(_run(_ours, args.stocks, args.days, args.chunk, args.memmap))
    load.append(os.getloadavg())
    print("| build | stocks x days | rows | wall s | cpu s | of which prepare (wall) | "
          "one chunk wall / cpu s | peak RSS GiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(_line(r))
    print()
    for sub, wall, cpu in ratios:
        print(f"- speed-up over pandas on {sub}: {wall:.1f}x wall, {cpu:.1f}x cpu")
    full = rows[-1] if not args.skip_full else None
    if full is not None:
        # prepare is mostly single-threaded, the chunk loop runs on both cores
        est = full["prepare_cpu"] + (full["cpu"] - full["prepare_cpu"]) / 2
        print(f"- full size: {full['chunks']} chunks, prepare {full['prepare_cpu']:.1f} s cpu, "
              f"chunk loop {full['cpu'] - full['prepare_cpu']:.1f} s cpu: prepare + loop / 2 "
              f"cores = {est:.1f} s wall expected on an idle 2-core machine")
    print(f"- load average (1, 5, 15 min) at start {load[0]}, at end {load[1]}; "
          f"{os.cpu_count()} cpus")


if __name__ == "__main__":
    main()
