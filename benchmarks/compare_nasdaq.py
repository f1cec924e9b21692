"""Full model comparison on the NASDAQ-1026 universe (Feng et al. TRSR benchmark data).

    python -m benchmarks.compare_nasdaq [--epochs 10] [--seeds 1] [--models ...] [--out runs/nasdaq-compare]

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

from stockformer.config import load_config
from stockformer.data.loaders import import_panel
from stockformer.data.store import save_dataset
from stockformer.train.compare import compare, markdown_table

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "nasdaq1026" / "prices.parquet"
MODELS = "stockformer,lstm,gru,alstm,tcn,transformer,gats,lightgbm,mlp,momentum,reversal,stockformer:shuffled"


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
    args = ap.parse_args()
    if not SOURCE.is_file():
        print(f"skipped: {SOURCE} not found", file=sys.stderr)
        return 0
    data = Path(args.data)
    if not (data / "panel.parquet").is_file():
        # one real row has high < low (FOXA 2013-06-25): repaired and counted, as the import reports
        panel, report = import_panel(SOURCE, inverted="repair", progress=True)
        save_dataset(panel, data, report=report, meta={"source": str(SOURCE)})
    cfg = load_config(ROOT / "configs" / "default.yaml", {
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
    })
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    summary = compare(cfg, models, args.seeds, Path(args.out), progress=lambda m: print(m, flush=True))
    print(markdown_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
