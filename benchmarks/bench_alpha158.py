"""Alpha158 benchmark: the full feature build with `features.families: [alpha158]` (fill, MAD
clip, z-score, neutralization, labels), and the raw factors against the plain pandas reference.

    python -m benchmarks.bench_alpha158 [--stocks 5000] [--days 2500] [--chunk 32]
        [--families alpha158] [--pandas 50x500] [--skip-full]

Each measurement runs in a fresh process (benchmarks.bench_factors' runner: peak RSS per
process, "cpu s" over all threads). The full build streams 32-date chunks and reduces each one
(the [2,500, 5,000, 158] tensor, 7.9 GB, is never held). The pandas line times
benchmarks/pandas_alpha158.py (per-stock rolling operators, `rolling.apply` for Slope /
Rsquare / Resi / IdxMax / IdxMin) against our raw kernel on the same small panel; it is far
too slow for the full size.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from benchmarks.bench_factors import _peak_gib, _run


def _build(stocks: int, days: int, chunk: int, families: list[str], q) -> None:
    from stockformer.config import FeaturesConfig
    from stockformer.data.random_panel import random_panel
    from stockformer.factors.pipeline import iter_feature_chunks, prepare, process_block

    panel = random_panel(stocks, days, seed=0)
    cfg = FeaturesConfig(families=families, cache_dir=None)
    process_block(prepare(random_panel(5, 70, seed=1), cfg), 0, 70)  # load the compiled kernels
    t0, c0 = time.perf_counter(), time.process_time()
    prep = prepare(panel, cfg)
    t_prep = time.perf_counter() - t0
    total = 0.0
    for _, _, x in iter_feature_chunks(prep, chunk=chunk, reuse=True):
        total += float(x.sum(dtype=np.float64))
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    t, n = prep.dp.shape
    a = max(t - 2 * chunk, 0)  # one more chunk alone: to extrapolate from on a busy machine
    t1, c1 = time.perf_counter(), time.process_time()
    process_block(prep, a, a + chunk)
    q.put({"what": "build " + "+".join(families), "stocks": n, "days": t,
           "features": len(prep.feature_names), "seconds": secs, "cpu": cpu, "prepare_s": t_prep,
           "chunk_s": time.perf_counter() - t1, "chunk_cpu": time.process_time() - c1,
           "peak_gib": _peak_gib(), "check": total})


def _raw(stocks: int, days: int, which: str, q) -> None:
    from benchmarks.pandas_alpha158 import alpha158_pandas
    from stockformer.config import FeaturesConfig
    from stockformer.data.random_panel import random_panel
    from stockformer.factors.dense import to_dense
    from stockformer.factors.families import raw_dense

    def build(p):
        if which == "pandas":
            return alpha158_pandas(p.to_pandas())
        return raw_dense(to_dense(p), FeaturesConfig(families=["alpha158"], cache_dir=None))

    panel = random_panel(stocks, days, seed=0)
    build(random_panel(5, 70, seed=1))  # imports, compiled kernels: outside the timing
    t0, c0 = time.perf_counter(), time.process_time()
    build(panel)
    q.put({"what": f"raw alpha158, {which}", "stocks": stocks, "days": days, "features": 158,
           "seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
           "peak_gib": _peak_gib()})


def _line(r: dict) -> str:
    prep = f"{r['prepare_s']:.1f}" if "prepare_s" in r else "-"
    chunk = f"{r['chunk_s']:.2f} / {r['chunk_cpu']:.2f}" if "chunk_s" in r else "-"
    return (f"| {r['what']} | {r['stocks']} x {r['days']} | {r['features']} | "
            f"{r['seconds']:.1f} | {r['cpu']:.1f} | {prep} | {chunk} | {r['peak_gib']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--days", type=int, default=2500)
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--families", default="alpha158", help="comma-separated, e.g. alpha158,alpha360")
    ap.add_argument("--pandas", default="50x500", help="STOCKSxDAYS for the raw comparison, '' = skip")
    ap.add_argument("--skip-full", action="store_true")
    args = ap.parse_args()
    families = args.families.split(",")
    load = [os.getloadavg()]
    _run(_build, 20, 100, args.chunk, families)  # compile / load the numba cache first
    rows = []
    if args.pandas:
        n, t = (int(v) for v in args.pandas.split("x"))
        rows += [_run(_raw, n, t, "pandas"), _run(_raw, n, t, "stockformer")]
    if not args.skip_full:
        rows.append(_run(_build, args.stocks, args.days, args.chunk, families))
    load.append(os.getloadavg())
    print("| what | stocks x days | features | wall s | cpu s | of which prepare (wall) | "
          "one chunk wall / cpu s | peak RSS GiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(_line(r))
    print()
    if args.pandas:
        pd_row, ours = rows[0], rows[1]
        print(f"- raw Alpha158 speed-up over pandas on {args.pandas}: "
              f"{pd_row['seconds'] / ours['seconds']:.0f}x wall, {pd_row['cpu'] / ours['cpu']:.0f}x cpu")
    print(f"- load average (1, 5, 15 min) at start {load[0]}, at end {load[1]}; "
          f"{os.cpu_count()} cpus")


if __name__ == "__main__":
    main()
