"""Multi-seed model comparison on two synthetic markets (issue 14's evidence).

    python -m benchmarks.compare_synth [--markets 0,1] [--seeds 3] [--models ...]
        [--config configs/small.yaml] [--out runs/compare-synth] [--set key=value ...]

Each market is the `make compare` market (120 stocks x 1,000 days) generated with its own seed;
every model is trained, predicted and backtested with `--seeds` training seeds through
`stockformer compare` (same splits, same costs, same training recipe: the config's). Writes
<out>/m<market>/comparison.{csv,md} per market and <out>/summary.md with both tables
(mean +- std over seeds of the test IC / RankIC / accuracy / Sharpe ...), printed at the end.
Everything is chosen on validation; the test columns are reported, never used to choose.
Markets already finished (comparison.md present) are skipped on a rerun.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from stockformer.config import load_config
from stockformer.data.synthetic import save_synthetic_dataset
from stockformer.io import write_text
from stockformer.train.compare import compare

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("stockformer,lstm,gru,alstm,tcn,transformer,gats,lightgbm,mlp,momentum,reversal,"
          "stockformer:shuffled")


def market_path(market: int) -> Path:
    return ROOT / "data" / ("synth_compare" if market == 0 else f"synth_compare_m{market}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--markets", default="0,1")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--models", default=MODELS)
    ap.add_argument("--config", default=str(ROOT / "configs" / "small.yaml"))
    ap.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    ap.add_argument("--out", default=str(ROOT / "runs" / "compare-synth"))
    args = ap.parse_args()
    import yaml

    extra = {k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.set)}
    out = Path(args.out)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    sections = []
    for market in (int(m) for m in args.markets.split(",")):
        path = market_path(market)
        if not path.exists():
            save_synthetic_dataset(path, 120, 1000, market)
        cfg = load_config(args.config, {"data.path": str(path), "data.synth.stocks": 120,
                                        "data.synth.days": 1000, "data.synth.seed": market, **extra})
        mdir = out / f"m{market}"
        done = mdir / "comparison.md"
        t0 = time.perf_counter()
        if not done.exists():
            compare(cfg, models, args.seeds, mdir,
                    progress=lambda msg, m=market: print(f"== market {m} {msg}", file=sys.stderr, flush=True))
        table = done.read_text()
        sections.append(f"### Market seed {market} (120 x 1,000), {args.seeds} training seeds\n\n{table}\n"
                        f"wall {time.perf_counter() - t0:.0f} s\n")
    write_text(out / "summary.md", "\n".join(sections))
    print("\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
