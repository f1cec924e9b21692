"""Stockformer training-step benchmark (CPU): this implementation vs a naive reference (the
released code's copy step, which materialises [B, T, N, N, d] in backward, with torch's
bernoulli dropout and no activation checkpointing), each in fp32 / bf16 autocast and under glibc's
malloc / tcmalloc (when installed), the sparse variant's scaling in N, and the sparse forward pass
of one prediction day. A training step is the trainer's: forward under the trainer's autocast
rule, multi-task loss, backward, clipping, Adam. Each measurement runs in its own subprocess so peak
RSS is clean; a watchdog stops a case whose RSS passes --max-rss-gib. Prints a Markdown table.

    python -m benchmarks.bench_model            # everything (many minutes; naive case ~14 GB)
    python -m benchmarks.bench_model --quick    # small sizes only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
import types

import numpy as np

from stockformer.allocator import find_tcmalloc


def _naive_copy(q, k, v, key_ok, chunk=None, block=None):
    """The released code's copy step: index an expanded [G, H, N, N, d] value tensor; its
    backward allocates that whole tensor (index backward = zeros of the input's shape)."""
    import torch

    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    scores = scores.masked_fill(~key_ok[:, None, None, :], float("-inf"))
    attn = torch.softmax(scores, -1)
    cp = attn.argmax(dim=-2)
    g, h, n, d = v.shape
    value = (attn @ v).unsqueeze(-3).expand(g, h, n, n, d)
    return value[torch.arange(g)[:, None, None], torch.arange(h)[None, :, None],
                 torch.arange(n)[None, None, :], cp]


def _graph(n: int, k: int, emb: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n, size=(n, k)).reshape(-1)
    dst = np.repeat(np.arange(n), k)
    return types.SimpleNamespace(edge_index=np.stack([src, dst]).astype(np.int64),
                                 edge_weight=rng.random(n * k).astype(np.float32),
                                 embedding=rng.standard_normal((n, emb)).astype(np.float32))


def _rss_watchdog(limit_gib: float) -> None:
    """Exit (code 3) as soon as this process's RSS passes limit_gib: protects a shared machine."""

    def watch() -> None:
        while True:
            with open("/proc/self/status", encoding="ascii") as fh:
                rss = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
            if rss / 2**20 > limit_gib:
                print(f"stopped: RSS passed {limit_gib:g} GiB", file=sys.stderr, flush=True)
                os._exit(3)
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()


def _use_naive_reference() -> None:
    """The released code's algorithm: naive copy step, and the plain model's bernoulli dropout,
    separate dropout / add / LayerNorm (the CPU kernels are not applied; no checkpointing is set
    through the config)."""
    from stockformer.model import spatial

    spatial.copy_attention = _naive_copy


def run_case(spec: dict) -> dict:
    """One case in this process: build, one warm-up step (unless steps == 1), timed steps."""
    import torch

    from stockformer.accel import for_training
    from stockformer.config import ModelConfig
    from stockformer.model.registry import build_model
    from stockformer.model.stockformer import is_large_step
    from stockformer.train.device import amp_dtype, autocast
    from stockformer.train.loss import multitask_loss

    if spec.get("max_rss_gib"):
        _rss_watchdog(spec["max_rss_gib"])
    torch.manual_seed(0)
    if spec["naive"]:
        _use_naive_reference()
    b, n, t1, f = spec["batch"], spec["n"], 20, spec["features"]
    cfg = ModelConfig(t1=t1, t2=2, d_model=128, layers=2, heads=1, dropout=0.2,
                      spatial_attention=spec["attention"], sparse_k=16,
                      grad_checkpoint="off" if spec["naive"] else spec.get("checkpoint", "auto"))
    cpu = torch.device("cpu")
    # the trainer's train.cpu_kernels rule (auto: the CPU kernels), off for the naive reference
    model = for_training(build_model(cfg, f, n, _graph(n, 16, 128)), cpu, "off" if spec["naive"] else "auto")
    # the trainer's precision rule (train.cpu_amp; "auto" = bf16 here, this CPU has avx512_bf16)
    dtype = amp_dtype(cpu, True, spec.get("amp", "auto"), is_large_step(b, t1, n))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    batch = {"x": torch.randn(b, t1, n, f, generator=g), "ret": 0.02 * torch.randn(b, t1, n, generator=g),
             "valid": torch.rand(b, t1, n, generator=g) > 0.05,
             "time": torch.zeros(b, t1, 2, dtype=torch.long)}
    y = 0.02 * torch.randn(b, 2, n, generator=g)
    mask = torch.ones(b, 2, n, dtype=torch.bool)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if spec.get("predict"):  # one forward pass in eval mode, no grad (the daily job's case)
        model.eval()
        times = []
        with torch.no_grad():
            for _ in range(spec["steps"]):
                t0 = time.perf_counter()
                model(batch)
                times.append(time.perf_counter() - t0)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        return {"step_s": float(min(times)), "peak_gib": peak, "step_gib": peak - base_rss,
                "dtype": "fp32"}

    def step() -> None:
        with autocast(cpu, dtype):  # as in the trainer: forward under autocast, loss outside
            out = model(batch)
        loss = multitask_loss(out, y, mask, y_low=model.low_target(y), lambda_cls=2.0)["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()

    if spec["steps"] > 1:
        step()
    times = []
    for _ in range(max(1, spec["steps"] - 1)):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"step_s": float(np.median(times)), "peak_gib": peak, "step_gib": peak - base_rss,
            "dtype": "fp32" if dtype is None else str(dtype).removeprefix("torch.")}


def measure(spec: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # the case says its allocator
    env.update(spec.get("env", {}))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_model", "--case", json.dumps(spec)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else f"rc {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="row names to run, separated by ; (default: all)")
    ap.add_argument("--sparse-sizes", default="1000,2000,5000")
    ap.add_argument("--max-rss-gib", type=float, default=15.0)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    f = 360  # 360 factors; the decoupling FFN input is 362 with the band and the indicator
    n, b = (64, 2) if args.quick else (255, 12)
    # name -> spec; steps: 1 warm-up + (steps - 1) timed training steps
    cases = {
        # the released code's algorithm as it runs by default: fp32, glibc malloc
        "naive reference, fp32, glibc": dict(attention="copy", naive=True, steps=3, amp="off",
                                             alloc="system"),
        "naive reference, fp32, tcmalloc": dict(attention="copy", naive=True, steps=3, amp="off"),
        "naive reference, bf16, tcmalloc": dict(attention="copy", naive=True, steps=3, amp="on"),
        # ours as `stockformer train` runs it here: bf16 autocast + checkpointing (both "auto"), tcmalloc
        "copy (default)": dict(attention="copy", naive=False, steps=9),
        "copy (default), glibc": dict(attention="copy", naive=False, steps=4, alloc="system"),
        "copy, fp32": dict(attention="copy", naive=False, steps=4, amp="off"),
        "copy, fp32, no checkpointing": dict(attention="copy", naive=False, steps=4, amp="off",
                                             checkpoint="off"),
        "copy, bf16, no checkpointing": dict(attention="copy", naive=False, steps=4, checkpoint="off"),
        "plain (default)": dict(attention="plain", naive=False, steps=4),
    }
    for spec in cases.values():
        spec.update(n=n, batch=b)
    for size in [] if args.quick else [int(x) for x in args.sparse_sizes.split(",") if x]:
        cases[f"sparse k=16, N={size} (default)"] = dict(n=size, batch=4, attention="sparse", naive=False,
                                                        steps=3)
    pn = 300 if args.quick else 5000
    cases[f"sparse k=16, N={pn}, predict (eval, no grad)"] = dict(
        n=pn, batch=1, attention="sparse", naive=False, steps=2, predict=True)
    only = {x.strip() for x in args.only.split(";") if x.strip()}
    lib = find_tcmalloc()
    print("| case | N | batch | precision | allocator | step (s) | peak RSS (GiB) | step RSS growth (GiB) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, spec in cases.items():
        if only and name not in only:
            continue
        alloc = "tcmalloc" if lib and spec.get("alloc") != "system" else "glibc"
        env = {"LD_PRELOAD": lib} if alloc == "tcmalloc" else {}
        r = measure({**spec, "features": f, "max_rss_gib": args.max_rss_gib, "env": env})
        head = f"| {name} | {spec['n']} | {spec['batch']}"
        if "error" in r:
            print(f"{head} | | {alloc} | failed: {r['error']} | | |", flush=True)
        else:
            print(f"{head} | {r['dtype']} | {alloc} | {r['step_s']:.2f} | {r['peak_gib']:.2f} "
                  f"| {r['step_gib']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
