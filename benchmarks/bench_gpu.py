"""GPU training benchmark at the paper's size, through the trainer's own `fit`.

    python -m benchmarks.bench_gpu                          # CUDA; `make gpu-check` runs it
    python -m benchmarks.bench_gpu --device cpu --days 4 --sparse-stocks 300   # smoke test

Cases (random data of the right shapes; no features are built):
- paper: N = 255 stocks, T1 = 20, 360 factors in the feature tensor (the model's decoupling
  input is 362 with the band and the indicator), d_model = 128, L = 2, batch 12, the released
  code's copy attention, one epoch = 486 training days (41 steps);
- sparse: the same at N = 5,000 with sparse spatial attention (k = 16 neighbours).
Each case trains `--epochs` epochs (default 2: the first includes CUDA warm-up, the last is the
figure) with the trainer's mixed precision (train.amp, bf16 where supported) and no validation
anchors, so an epoch is the training loop alone. It reports epoch seconds and peak GPU memory
(torch.cuda.max_memory_allocated; peak RSS on CPU) beside the goal: an epoch at the paper's size
at least 4x faster than the released code's 13-14 s on an RTX 4090, i.e. <= 13 / 4 = 3.25 s.
Writes a JSON file (--out) and prints a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
import types
from pathlib import Path

import numpy as np

from benchmarks.bench_model import _graph  # random k-neighbour graph with an embedding

RELEASED_EPOCH_S = (13.0, 14.0)  # the released code, RTX 4090, paper size
TARGET_S = RELEASED_EPOCH_S[0] / 4


def random_featureset(days: int, n: int, f: int, t1: int, seed: int = 0):
    """A FeatureSet with t1 - 1 history days before `days` training anchors (+1 for the label)."""
    from stockformer.factors.featureset import FeatureSet

    rng = np.random.default_rng(seed)
    t = days + t1
    labels = (0.02 * rng.standard_normal((t, n), dtype=np.float32)).astype(np.float32)
    return FeatureSet(
        features=rng.standard_normal((t, n, f), dtype=np.float32),
        returns=(0.02 * rng.standard_normal((t, n), dtype=np.float32)).astype(np.float32),
        labels=labels, mask=np.ones((t, n), bool), valid=np.ones((t, n), bool),
        dates=np.datetime64("2015-01-05") + np.arange(t),
        symbols=[f"S{i:05d}" for i in range(n)], feature_names=[f"f{i}" for i in range(f)],
    )


def run_case(name: str, *, n: int, attention: str, args) -> dict:
    import torch

    from stockformer.config import ModelConfig, TrainConfig
    from stockformer.train.device import resolve_device
    from stockformer.train.trainer import fit

    t1 = 20
    mcfg = ModelConfig(t1=t1, t2=2, d_model=128, layers=2, heads=1, dropout=0.2,
                       spatial_attention=attention, sparse_k=16)
    batch = args.sparse_batch if attention == "sparse" else args.batch
    tcfg = TrainConfig(device=args.device, epochs=args.epochs, batch_size=batch,
                       early_stopping=None, num_workers=args.workers, amp=args.precision != "fp32",
                       amp_dtype="auto" if args.precision == "fp32" else args.precision)
    fs = random_featureset(args.days, n, args.features, t1)
    anchors = np.arange(t1 - 1, t1 - 1 + args.days)
    split = types.SimpleNamespace(name=name, train=anchors, val=anchors[:0], test=anchors[:0],
                                  fit_end=int(anchors[-1]))
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    res = fit(fs, split, _graph(n, 16, 128), mcfg, tcfg, seed=0, label=name)
    wall = time.perf_counter() - t0
    secs = [row["seconds"] for row in res.history]
    out = {"case": name, "stocks": n, "attention": attention, "batch": batch, "days": args.days,
           "steps": -(-args.days // batch), "factors": args.features,
           # on CPU the trainer follows train.cpu_amp (auto: bf16 for large steps on bf16 CPUs)
           "precision": args.precision if device.type == "cuda" else "cpu_amp auto",
           "epochs": len(secs), "first_epoch_s": secs[0], "epoch_s": secs[-1], "fit_wall_s": wall,
           "device": str(device), "parameters": res.parameters}
    if device.type == "cuda":
        out["peak_gpu_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        out["gpu"] = torch.cuda.get_device_name(device)
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    del res
    return out


def table(rows: list[dict]) -> str:
    lines = ["| case | N | attention | batch | steps | precision | first epoch s | epoch s | "
             "target | peak GPU GiB | peak RSS GiB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        target = (f"<= {TARGET_S:.2f} s: {'met' if r['epoch_s'] <= TARGET_S else 'not met'}"
                  if r["case"] == "paper" and r["days"] == 486 else "-")
        gpu = f"{r['peak_gpu_gib']:.2f}" if "peak_gpu_gib" in r else "-"
        lines.append(f"| {r['case']} | {r['stocks']} | {r['attention']} | {r['batch']} | "
                     f"{r['steps']} | {r['precision']} | {r['first_epoch_s']:.2f} | "
                     f"{r['epoch_s']:.2f} | {target} | {gpu} | {r['peak_rss_gib']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu for a smoke test")
    ap.add_argument("--days", type=int, default=486, help="training days in the epoch")
    ap.add_argument("--stocks", type=int, default=255)
    ap.add_argument("--features", type=int, default=360)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--sparse-stocks", type=int, default=5000, help="0 skips the sparse case")
    ap.add_argument("--sparse-batch", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers (train.num_workers)")
    ap.add_argument("--precision", choices=("bf16", "fp16", "fp32"), default="bf16")
    ap.add_argument("--out", default="benchmarks/results/bench_gpu.json")
    args = ap.parse_args(argv)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device on this machine (torch.cuda.is_available() is false); "
              "for a CPU smoke test: --device cpu --days 4 --sparse-stocks 300", file=sys.stderr)
        return 2
    cases = [("paper", args.stocks, "copy")]
    if args.sparse_stocks:
        cases.append(("sparse", args.sparse_stocks, "sparse"))
    rows = [run_case(name, n=n, attention=att, args=args) for name, n, att in cases]
    print(table(rows))
    print(f"\nreleased code: {RELEASED_EPOCH_S[0]:g}-{RELEASED_EPOCH_S[1]:g} s per epoch at the "
          f"paper's size on an RTX 4090; goal: 4x faster, <= {TARGET_S:.2f} s per epoch")
    from stockformer.io import write_json

    meta = {"torch": torch.__version__, "python": platform.python_version(),
            "cuda": torch.version.cuda, "argv": sys.argv[1:], "target_epoch_s": TARGET_S,
            "released_epoch_s": list(RELEASED_EPOCH_S)}
    write_json(Path(args.out), {"meta": meta, "rows": rows})
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
