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

from stockformer.backtest.compare import compare
from stockformer.config import load_config
from stockformer.data.synthetic import save_synthetic_dataset
from stockformer.io import write_text

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("stockformer,lstm,gru,alstm,tcn,transformer,gats,lightgbm,mlp,momentum,reversal,"
          "stockformer:shuffled")


def seed_ensembles(cfg, mdir: Path, models: list[str], seeds: int) -> str:
    """A post-hoc table: for each model, the per-day rank average of its seed runs' test scores
    (what `train.ensemble` would trade if it kept each seed's own output choice) and its RankIC.
    No fitting and no choice is involved, so it reads nothing it should not."""
    import numpy as np
    import polars as pl

    from stockformer.factors.pipeline import build_features
    from stockformer.signal.ensemble import rank_average
    from stockformer.signal.metrics import daily_ic, daily_rank_ic
    from stockformer.train.run import load_panel_for

    fs = build_features(load_panel_for(cfg), cfg.features)
    day = {d: i for i, d in enumerate(fs.dates.astype("datetime64[D]").tolist())}
    sym = {s: j for j, s in enumerate(fs.symbols)}
    lines = ["| model | members | test ic | test rank_ic | mean single-seed rank_ic |", "|---|---|---|---|---|"]
    for model in models:
        scores, singles = [], []
        for k in range(seeds):
            run = mdir / "models" / f"{model.replace(':', '-')}-s{cfg.seed + k}" / "predictions.parquet"
            if not run.exists():
                continue
            p = pl.read_parquet(run)
            rows = np.array([day[d] for d in p["date"].to_list()])
            cols = np.array([sym[s] for s in p["symbol"].to_list()])
            scores.append((rows, cols, p["score"].to_numpy()))
        if not scores:
            continue
        anchors = np.unique(np.concatenate([r for r, _, _ in scores]))
        pos = {a: i for i, a in enumerate(anchors)}
        dense = []
        for rows, cols, val in scores:
            x = np.full((len(anchors), len(fs.symbols)), np.nan)
            x[[pos[r] for r in rows], cols] = val
            dense.append(x)
            singles.append(np.nanmean(daily_rank_ic(x, fs.labels[anchors], fs.mask[anchors])))
        valid = np.isfinite(dense[0])
        ens = rank_average(dense, valid)
        ic = np.nanmean(daily_ic(ens, fs.labels[anchors], fs.mask[anchors]))
        ric = np.nanmean(daily_rank_ic(ens, fs.labels[anchors], fs.mask[anchors]))
        lines.append(f"| {model} | {len(dense)} | {ic:.4f} | {ric:.4f} | {np.mean(singles):.4f} |")
    return "\n".join(lines) + "\n"


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
        ens = seed_ensembles(cfg, mdir, models, args.seeds)
        sections.append(f"### Market seed {market} (120 x 1,000), {args.seeds} training seeds\n\n{table}\n"
                        f"Post-hoc seed ensembles (rank average of the {args.seeds} seed runs' test scores):\n\n"
                        f"{ens}\nwall {time.perf_counter() - t0:.0f} s\n")
    write_text(out / "summary.md", "\n".join(sections))
    print("\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
