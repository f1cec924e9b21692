"""Full model comparison on the NASDAQ-1026 universe (Feng et al. TRSR benchmark data).

    python -m benchmarks.compare_nasdaq [--epochs 10] [--seeds 1] [--models ...] [--out runs/nasdaq-compare]
        [--stocks N] [--config configs/default.yaml] [--set key=value ...]

--stocks N keeps a liquid subset: the N stocks with the highest median traded value
(close x volume) over the training years 2012-2015 only (no information from the validation or
test years chooses the universe). The training recipe is the config's (the project defaults).

Split as in the Temporal Relational Stock Ranking benchmark: train 2013-2015, validate 2016,
test 2017 (2012 only warms up the 60-day Alpha360 lookback). CPU: about 50 minutes at 2 epochs
(plus ~25 for the shuffled control) on a 2-core box; more with more epochs. The table is
printed and written to <out>/comparison.md; copy it into docs/BENCHMARKS.md with the command.
Needs ../shared/data/nasdaq1026 (not part of the product).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stockformer.backtest.compare import compare, markdown_table
from stockformer.config import load_config
from stockformer.data.loaders import import_panel
from stockformer.data.store import save_dataset

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "nasdaq1026" / "prices.parquet"
MODELS = "stockformer,lstm,gru,alstm,tcn,transformer,gats,lightgbm,mlp,momentum,reversal,stockformer:shuffled"


def liquid_subset(data: Path, stocks: int) -> Path:
    """A dataset of the `stocks` most traded names, ranked on 2012-2015 (training years) only."""
    import polars as pl

    from stockformer.data.store import load_panel

    out = data.parent / f"{data.name}_liquid{stocks}"
    if (out / "panel.parquet").is_file():
        return out
    panel = load_panel(data)
    ranked = (
        panel.filter(pl.col("date") <= pl.date(2015, 12, 31))
        .group_by("symbol").agg((pl.col("close") * pl.col("volume")).median().alias("value"))
        .sort(["value", "symbol"], descending=[True, False]).head(stocks)
    )
    keep = panel.filter(pl.col("symbol").is_in(ranked.get_column("symbol").implode()))
    save_dataset(keep, out, meta={"source": str(SOURCE), "subset": f"top {stocks} by 2012-2015 median traded value"})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default=MODELS)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--attention", default="sparse", choices=["copy", "plain", "sparse"])
    # struc2vec compares all node pairs: slow at 1,026 nodes on a CPU; the spectral one is fast
    ap.add_argument("--embedding", default="spectral", choices=["struc2vec", "spectral", "none"])
    ap.add_argument("--data", default=str(ROOT / "data" / "nasdaq1026"))
    ap.add_argument("--out", default=str(ROOT / "runs" / "nasdaq-compare"))
    ap.add_argument("--stocks", type=int, default=None, help="liquid subset size (default: all 1,026)")
    ap.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    ap.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    args = ap.parse_args()
    if not SOURCE.is_file():
        print(f"skipped: {SOURCE} not found", file=sys.stderr)
        return 0
    data = Path(args.data)
    if not (data / "panel.parquet").is_file():
        # one real row has high < low (FOXA 2013-06-25): repaired and counted, as the import reports
        panel, report = import_panel(SOURCE, inverted="repair", progress=True)
        save_dataset(panel, data, report=report, meta={"source": str(SOURCE)})
    if args.stocks:
        data = liquid_subset(data, args.stocks)
    import yaml

    extra = {k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.set)}
    cfg = load_config(args.config, {
        "name": "nasdaq",
        "data.path": str(data),
        "data.start": "2012-01-03",
        "split.scheme": "dates",
        "split.train_end": "2015-12-31",
        "split.val_end": "2016-12-31",
        "split.test_end": "2017-12-31",
        "features.neutralize": False,  # no industry or market cap in this data
        "graph.top_k": 20,
        "graph.embedding": args.embedding,
        "model.d_model": args.d_model,
        "model.spatial_attention": args.attention,
        "train.device": "cpu",
        "train.epochs": args.epochs,
        "train.lr_patience": 3,
        "train.early_stopping": 4,
        "backtest.topk": 10,
        "backtest.n_drop": 2,
        "backtest.costs.preset": "us",
        **extra,
    })
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    summary = compare(cfg, models, args.seeds, Path(args.out), progress=lambda m: print(m, flush=True))
    print(markdown_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
