"""CPU training step, paired against an earlier revision: does the current tree keep the default
step's speed?

One step = the trainer's: forward under its autocast rule (train.cpu_amp), the configured loss
(batch_loss), backward, gradient clipping, AdamW, with the default config's model
(configs/default.yaml of each tree) at the paper's size (N = 255 stocks, T1 = 20, 360 factors, so
the decoupling input is 362; d_model 128, 2 layers, batch 12) and train.cpu_kernels as the tree
sets it. The baseline revision is checked out in a temporary `git worktree`; each measurement
runs in its own subprocess, baseline and current alternating (A/B/A/B), under tcmalloc when the
machine has it (as `stockformer train`). Prints every pair, both medians and their ratio.

    python -m benchmarks.bench_cpu_step --baseline 61eab74              # 5 pairs, paper size
    python -m benchmarks.bench_cpu_step --baseline 61eab74 --stocks 20 --pairs 1   # smoke test

The baseline must have stockformer.train.trainer.batch_loss (61eab74 and later).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_child(spec: dict) -> dict:
    """Time the step in this process, with stockformer imported from spec["root"]."""
    import types

    import numpy as np
    import torch

    import stockformer

    loaded = Path(stockformer.__file__).resolve().parents[1]
    if loaded != Path(spec["root"]).resolve():
        raise SystemExit(f"bench_cpu_step: imported stockformer from {loaded}, expected {spec['root']}")
    from stockformer.config import load_config
    from stockformer.model.registry import build_model
    from stockformer.model.stockformer import is_large_step
    from stockformer.train.device import amp_dtype, autocast
    from stockformer.train.trainer import batch_loss, detach_direction_heads

    cfg = load_config(Path(spec["root"]) / "configs" / "default.yaml")
    mcfg, tcfg = cfg.model, cfg.train
    b, n, f, t1, t2 = spec["batch"], spec["stocks"], spec["features"], mcfg.t1, mcfg.t2
    cpu = torch.device("cpu")
    torch.use_deterministic_algorithms(True, warn_only=True)  # as the trainer on CPU
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    src = rng.integers(0, n, size=(n, 16)).reshape(-1)
    graph = types.SimpleNamespace(edge_index=np.stack([src, np.repeat(np.arange(n), 16)]).astype(np.int64),
                                  edge_weight=rng.random(n * 16).astype(np.float32),
                                  embedding=rng.standard_normal((n, cfg.graph.dim)).astype(np.float32))
    model = build_model(mcfg, f, n, graph)
    kernels = getattr(tcfg, "cpu_kernels", None)
    if kernels is not None:  # trees with the accelerator: the trainer's rule
        from stockformer.accel import for_training  # lazy: older trees have no accel package

        model = for_training(model, cpu, kernels)
    model.train()
    detach_direction_heads(model, tcfg.direction_head)
    dtype = amp_dtype(cpu, tcfg.amp, tcfg.cpu_amp, is_large_step(b, t1, n))
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    g = torch.Generator().manual_seed(0)
    batch = {"x": torch.randn(b, t1, n, f, generator=g), "ret": 0.02 * torch.randn(b, t1, n, generator=g),
             "valid": torch.rand(b, t1, n, generator=g) > 0.05,
             "time": torch.randint(0, 12, (b, t1, 2), generator=g),
             "y": 0.02 * torch.randn(b, t2, n, generator=g), "y_mask": torch.rand(b, t2, n, generator=g) > 0.05,
             "graph_emb": torch.as_tensor(graph.embedding), "edge_index": torch.as_tensor(graph.edge_index)}

    def step() -> None:
        with autocast(cpu, dtype):
            out = model(batch)
        loss = batch_loss(model, out, batch, tcfg, mcfg.tasks)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tcfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
        opt.step()

    for _ in range(spec["warmup"]):
        step()
    times = []
    for _ in range(spec["steps"]):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {"step_s": statistics.median(times), "dtype": "fp32" if dtype is None else str(dtype).removeprefix("torch."),
            "kernels": kernels or "(always on)"}


def measure(root: Path, spec: dict, env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps({**spec, "root": str(root)})],
                          cwd=root, env={**env, "PYTHONPATH": str(root)}, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        raise SystemExit(f"bench_cpu_step: the step in {root} failed: {tail[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _environment(allocator: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "PYTHONPATH")}
    if allocator == "auto":
        from stockformer.allocator import find_tcmalloc  # lazy: not in the child

        lib = find_tcmalloc()
        if lib:
            env["LD_PRELOAD"] = lib
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--baseline", default="61eab74", help="git revision to compare against")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--stocks", type=int, default=255)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--features", type=int, default=360)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per measurement (their median)")
    ap.add_argument("--allocator", choices=("auto", "system"), default="auto")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return
    spec = {k: getattr(args, k) for k in ("stocks", "batch", "features", "warmup", "steps")}
    env = _environment(args.allocator)
    with tempfile.TemporaryDirectory(prefix="bench_cpu_step_") as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), args.baseline],
                       check=True, capture_output=True)
        try:
            rev = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], check=True,
                                 capture_output=True, text=True).stdout.strip()
            print(f"baseline {args.baseline} ({rev}) vs current tree; N = {args.stocks}, batch {args.batch}, "
                  f"{args.features} factors; {args.warmup} warm-up + {args.steps} timed steps per run; "
                  f"allocator: {'tcmalloc' if 'LD_PRELOAD' in env else 'system'}")
            print("| pair | baseline step (s) | current step (s) | current / baseline |")
            print("|---|---|---|---|")
            base, cur = [], []
            for i in range(args.pairs):
                a = measure(tree, spec, env)
                b = measure(REPO, spec, env)
                base.append(a["step_s"])
                cur.append(b["step_s"])
                print(f"| {i + 1} | {a['step_s']:.3f} | {b['step_s']:.3f} | {b['step_s'] / a['step_s']:.3f} |",
                      flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                           capture_output=True)
    mb, mc = statistics.median(base), statistics.median(cur)
    print(f"precision {a['dtype']}; current train.cpu_kernels: {b['kernels']}")
    print(f"median baseline {mb:.3f} s, median current {mc:.3f} s, ratio current / baseline {mc / mb:.3f} "
          f"({'within' if mc <= 1.15 * mb else 'NOT within'} 15%)")


if __name__ == "__main__":
    main()
