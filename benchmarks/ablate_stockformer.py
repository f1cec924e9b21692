"""Training-recipe ablations for the Stockformer (docs/MODEL_NOTES.md), several seeds each.

    python -m benchmarks.ablate_stockformer --market 0 --seeds 3 --variants paper,rank_mse
        [--base configs/small.yaml] [--out runs/ablations] [--models stockformer]

Each variant is a set of config overrides on top of --base, run on a synthetic market of
120 stocks x 1,000 days (the `make compare` market; --market picks its seed). Features and
the graph are built once per market; each (variant, seed) is one fit. Selection is by
validation RankIC only: the test columns are printed for the record, never used to choose.
Rows are appended to <out>/ablations.csv as they finish, so a long run can be read as it goes.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from stockformer.config import load_config
from stockformer.data.synthetic import save_synthetic_dataset
from stockformer.factors.pipeline import build_features
from stockformer.graph import build_graph
from stockformer.signal.metrics import daily_ic, daily_rank_ic
from stockformer.signal.trade_output import choose_trade_output, trade_score
from stockformer.train.run import load_panel_for
from stockformer.train.splits import make_splits
from stockformer.train.trainer import fit, predict

ROOT = Path(__file__).resolve().parents[1]

# name -> overrides; "paper" is the small configuration's recipe as it was (the paper's loss).
# Variants not named "default*" train the direction head jointly (the paper) unless they say so.
VARIANTS: dict[str, dict] = {
    "default": {},  # the base config's recipe as it is (the project default)
    "paper": {"train.target": "raw", "train.loss": "mae", "train.direction_head": "joint"},
    "raw_mse": {"train.target": "raw", "train.loss": "mse"},
    "zscore_mse": {"train.target": "zscore", "train.loss": "mse"},
    "rank_mse": {"train.target": "rank", "train.loss": "mse"},
    "rank_mae": {"train.target": "rank", "train.loss": "mae"},
    "rank_ic": {"train.target": "rank", "train.loss": "ic"},
    "rank_listnet": {"train.target": "zscore", "train.loss": "listnet"},
    "rank_mse_lam0.5": {"train.target": "rank", "train.loss": "mse", "train.lambda_cls": 0.5},
    "rank_mse_lam0": {"train.target": "rank", "train.loss": "mse", "train.lambda_cls": 0.0},
    "paper_lam0": {"train.target": "raw", "train.loss": "mae", "train.lambda_cls": 0.0},
    "rank_mse_cos": {"train.target": "rank", "train.loss": "mse", "train.lr_schedule": "cosine",
                     "train.warmup_epochs": 1.0},
    "rank_mse_lr5e-4": {"train.target": "rank", "train.loss": "mse", "train.lr": 5e-4},
    "rank_mse_wd": {"train.target": "rank", "train.loss": "mse", "train.weight_decay": 0.05},
    "rank_mse_indrop": {"train.target": "rank", "train.loss": "mse", "train.input_dropout": 0.2},
    "rank_mse_drop0.3": {"train.target": "rank", "train.loss": "mse", "model.dropout": 0.3},
    "rank_mse_d16": {"train.target": "rank", "train.loss": "mse", "model.d_model": 16},
    "rank_mse_d64": {"train.target": "rank", "train.loss": "mse", "model.d_model": 64},
    # the memorisation channels: a day-level target (the raw sign in the CE) that the whole
    # cross-section, the calendar embedding or the stock-identity graph embedding can memorise
    "rank_mse_lam0_nograph": {"train.target": "rank", "train.loss": "mse", "train.lambda_cls": 0.0,
                              "model.use_graph": False},
    "rank_mse_lam0_notime": {"train.target": "rank", "train.loss": "mse", "train.lambda_cls": 0.0,
                             "model.time_embedding": "none"},
    "rank_mse_lam0.1": {"train.target": "rank", "train.loss": "mse", "train.lambda_cls": 0.1},
    "rank_mse_detached": {"train.target": "rank", "train.loss": "mse", "train.direction_head": "detached"},
    # "default_*" variants: the project default (detached direction head) with one change
    "default_plain": {"model.spatial_attention": "plain"},  # ordinary attention, not the copy step
    "default_nograph": {"model.use_graph": False},
    "default_graph_qk": {"model.graph_role": "attention"},  # graph in queries/keys, not values
    "default_notime": {"model.time_embedding": "none"},
    "default_ep12": {"train.epochs": 12},
    "default_cos": {"train.lr_schedule": "cosine", "train.warmup_epochs": 1.0},
    "default_plain_ep12": {"model.spatial_attention": "plain", "train.epochs": 12},
    # third session: capacity, step count and rate (the default is still improving at its last epoch)
    "default_d64": {"model.d_model": 64},
    "default_cos4": {"train.lr_schedule": "cosine", "train.warmup_epochs": 1.0, "train.lr": 4e-3},
    "default_b4": {"train.batch_size": 4},
    "default_drop0": {"model.dropout": 0.0},
    "default_drop3": {"model.dropout": 0.3},
    "default_wd": {"train.weight_decay": 0.1},
    "default_notemporal": {"model.use_temporal": False},
    "default_nospatial": {"model.use_spatial": False},
    "default_core": {"model.use_spatial": False, "model.use_temporal": False},  # neither
    "default_nowavelet": {"model.use_wavelet": False},
    "default_fusion_add": {"model.fusion": "add"},
    # third session's winner, now the default itself; default_noskip is the default before it
    "default_lastday": {"model.last_day_skip": True},
    "default_noskip": {"model.last_day_skip": False},
}

FIELDS = ("market", "variant", "model", "seed", "val_rank_ic", "val_rank_ic_reg", "val_rank_ic_cls",
          "trade_output", "test_rank_ic", "test_ic", "score_dispersion", "epochs_run", "best_epoch",
          "seconds_per_epoch", "train_seconds")


def parse_extra(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = yaml.safe_load(v)
    return out


def market_config(base: Path, market: int, overrides: dict):
    path = ROOT / "data" / ("synth_compare" if market == 0 else f"synth_compare_m{market}")
    cfg = load_config(base, {"data.path": str(path), "data.synth.stocks": 120, "data.synth.days": 1000,
                             "data.synth.seed": market, **overrides})
    if not path.exists():
        save_synthetic_dataset(path, 120, 1000, market)
    return cfg


def _mean_ric(score, fs, anchors) -> float:
    r = daily_rank_ic(score, fs.labels[anchors], fs.mask[anchors])
    return float(np.nanmean(r)) if np.isfinite(r).any() else float("nan")


def run_variant(cfg, fs, split, graph, seed: int, label: str) -> dict:
    res = fit(fs, split, graph, cfg.model, cfg.train, seed=seed, label=label)
    val = predict(res.model, fs, split.val, graph, device=res.device, batch_size=cfg.train.batch_size)
    test = predict(res.model, fs, split.test, graph, device=res.device, batch_size=cfg.train.batch_size)
    out, choice = choose_trade_output(val.pred_return, val.prob_up, fs.labels[split.val],
                                      fs.mask[split.val], cfg.train.trade_output)
    t_score = trade_score(out, test.pred_return, test.prob_up, fs.valid[split.test])
    v_score = trade_score(out, val.pred_return, val.prob_up, fs.valid[split.val])
    valid = fs.valid[split.test]
    disp = float(np.nanmean(np.nanstd(np.where(valid, t_score, np.nan), axis=1)))
    secs = [h["seconds"] for h in res.history]
    return {
        "val_rank_ic": _mean_ric(v_score, fs, split.val),
        "val_rank_ic_reg": choice.get("regression"), "val_rank_ic_cls": choice.get("classification"),
        "trade_output": out,
        "test_rank_ic": _mean_ric(t_score, fs, split.test),
        "test_ic": float(np.nanmean(daily_ic(t_score, fs.labels[split.test], fs.mask[split.test]))),
        "score_dispersion": disp,
        "epochs_run": len(res.history), "best_epoch": res.best_epoch,
        "seconds_per_epoch": float(np.median(secs)) if secs else float("nan"),
        "train_seconds": res.train_seconds,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--market", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--variants", default="paper,rank_mse")
    ap.add_argument("--models", default="stockformer")
    ap.add_argument("--base", default=str(ROOT / "configs" / "small.yaml"))
    ap.add_argument("--set", action="append", default=[], help="extra override for every variant")
    ap.add_argument("--out", default=str(ROOT / "runs" / "ablations"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = out / "ablations.csv"
    new = not table.exists()
    extra = parse_extra(args.set)
    cache: dict = {}
    with table.open("a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        if new:
            w.writeheader()
        for variant in args.variants.split(","):
            if variant not in VARIANTS:
                print(f"error: unknown variant {variant!r} (known: {', '.join(VARIANTS)})", file=sys.stderr)
                return 2
            for model in args.models.split(","):
                pinned = {} if variant.startswith("default") else {"train.direction_head": "joint"}
                cfg = market_config(Path(args.base), args.market,
                                    {**pinned, **VARIANTS[variant], **extra, "model.name": model})
                key = (cfg.data.path, cfg.features.model_dump_json(), cfg.graph.model_dump_json())
                if key not in cache:
                    fs = build_features(load_panel_for(cfg), cfg.features)
                    split = make_splits(fs.dates, cfg.split, t1=cfg.model.t1, t2=cfg.model.t2,
                                        label_lag=fs.label_lag)[0]
                    graph = build_graph(fs.returns, fs.valid, cfg.graph, fit_end=split.fit_end,
                                        seed=cfg.seed, industries=fs.industries)
                    cache[key] = (fs, split, graph)
                fs, split, graph = cache[key]
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    t0 = time.perf_counter()
                    row = run_variant(cfg, fs, split, graph, seed, f"[m{args.market} {variant} {model} s{seed}]")
                    row.update(market=args.market, variant=variant, model=model, seed=seed)
                    w.writerow({k: (round(v, 5) if isinstance(v, float) else v) for k, v in row.items()})
                    fh.flush()
                    print(f"== m{args.market} {variant} {model} s{seed}: val {row['val_rank_ic']:.4f} "
                          f"({row['trade_output']}) test {row['test_rank_ic']:.4f} "
                          f"disp {row['score_dispersion']:.3g} {time.perf_counter() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
