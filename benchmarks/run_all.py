"""Run every benchmark, one subprocess each (so peak memory is measured per benchmark).

    python -m benchmarks.run_all [--only synth,factors,...]

Each benchmark prints a Markdown table; copy the figures into docs/BENCHMARKS.md with the
machine description. The model comparisons (an hour or more on a CPU) are not part of this
run: `python -m benchmarks.compare_synth` (two synthetic markets x 3 seeds, every model),
`python -m benchmarks.ablate_stockformer` (training-recipe ablations) and
`python -m benchmarks.compare_nasdaq` (real data).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

BENCHMARKS = ["synth", "factors", "graph", "model", "backtest", "predict", "dashboard"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default=",".join(BENCHMARKS))
    args = ap.parse_args()
    failed = []
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        module = f"benchmarks.bench_{name}"
        print(f"\n## {name}  (python -m {module})\n", flush=True)
        started = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", module])
        print(f"\n({name}: exit {rc}, {time.perf_counter() - started:.0f} s wall)", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
