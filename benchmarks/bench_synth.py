"""Synthetic market: generation speed and the strength of the planted structure.

    python -m benchmarks.bench_synth [--stocks 5000 --days 2500]

Goal: 5,000 stocks x 2,500 days in < 60 s.
"""

from __future__ import annotations

import argparse
import resource
import time

from stockformer.data.synthetic import generate_market, oracle_rank_ic
from stockformer.data.validate import validate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--days", type=int, default=2500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rows = []
    for stocks, days in ((300, 1500), (args.stocks, args.days)):
        t0 = time.perf_counter()
        panel = generate_market(stocks, days, args.seed)
        gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        validate(panel, "synthetic")
        val = time.perf_counter() - t0
        rows.append((stocks, days, panel.height, gen, val))
        del panel
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    print("| stocks | days | rows | generate (s) | validate (s) |")
    print("|---:|---:|---:|---:|---:|")
    for s, d, n, g, v in rows:
        print(f"| {s:,} | {d:,} | {n:,} | {g:.1f} | {v:.1f} |")
    print(f"\npeak RSS: {peak_gib:.1f} GiB\n")

    print("| seed | oracle next-day RankIC | oracle label (t+1->t+2) RankIC "
          "| -1 x 1-day return | 20-day momentum |")
    print("|---:|---:|---:|---:|---:|")
    for seed in (0, 1, 2):
        ic = oracle_rank_ic(300, 1500, seed)
        print(f"| {seed} | {ic['oracle_next']:.3f} | {ic['oracle_label']:.3f} "
              f"| {ic['reversal_1d']:.3f} | {ic['momentum_20d']:.3f} |")
    print("\n(RankIC: mean daily rank IC, 300 stocks x 1,500 days; the simple signals are scored "
          "on the label return close t+1 -> t+2)")


if __name__ == "__main__":
    main()
