"""Stockformer training-step benchmark (CPU): chunked copy attention vs the released code's
naive copy step, and the sparse variant's scaling in N. Each measurement runs in its own
subprocess so peak RSS is clean. Prints Markdown tables.

    python -m benchmarks.bench_model            # everything (minutes; the naive case ~3 GB)
    python -m benchmarks.bench_model --quick    # small sizes only
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import types

import numpy as np


def _naive_copy(q, k, v, key_ok, chunk=None):
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


def run_case(spec: dict) -> dict:
    """One case in this process: build, one warm-up step (unless steps == 1), timed steps."""
    import torch

    from stockformer.config import ModelConfig
    from stockformer.model import spatial
    from stockformer.model.registry import build_model
    from stockformer.train.loss import multitask_loss

    torch.manual_seed(0)
    if spec["naive"]:
        spatial.copy_attention = _naive_copy
    b, n, t1, f = spec["batch"], spec["n"], 20, spec["features"]
    cfg = ModelConfig(t1=t1, t2=2, d_model=128, layers=2, heads=1, dropout=0.2,
                      spatial_attention=spec["attention"], sparse_k=16)
    model = build_model(cfg, f, n, _graph(n, 16, 128))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    batch = {"x": torch.randn(b, t1, n, f, generator=g), "ret": 0.02 * torch.randn(b, t1, n, generator=g),
             "valid": torch.rand(b, t1, n, generator=g) > 0.05,
             "time": torch.zeros(b, t1, 2, dtype=torch.long)}
    y = 0.02 * torch.randn(b, 2, n, generator=g)
    mask = torch.ones(b, 2, n, dtype=torch.bool)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    def step() -> None:
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
    return {"step_s": float(np.median(times)), "peak_gib": peak, "step_gib": peak - base_rss}


def measure(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_model", "--case", json.dumps(spec)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else f"rc {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sparse-sizes", default="1000,2000,5000")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    f = 360  # 360 factors; the decoupling FFN input is 362 with the band and the indicator
    rows = []
    dense = [(255, 12, "copy", False), (255, 12, "plain", False), (255, 2, "copy", False),
             (255, 2, "copy", True)]
    if args.quick:
        dense = [(64, 2, "copy", False), (64, 2, "copy", True)]
    for n, b, att, naive in dense:
        r = measure({"n": n, "batch": b, "features": f, "attention": att, "naive": naive, "steps": 3})
        rows.append((f"{att}{' (naive, released code)' if naive else ''}", n, b, r))
    sizes = [] if args.quick else [int(s) for s in args.sparse_sizes.split(",") if s]
    for n in sizes:
        r = measure({"n": n, "batch": 4, "features": f, "attention": "sparse", "naive": False, "steps": 1})
        rows.append(("sparse (k=16)", n, 4, r))
    print("| spatial attention | N | batch | train step (s) | peak RSS (GiB) | step RSS growth (GiB) |")
    print("|---|---|---|---|---|---|")
    for name, n, b, r in rows:
        if "error" in r:
            print(f"| {name} | {n} | {b} | failed: {r['error']} | | |")
        else:
            print(f"| {name} | {n} | {b} | {r['step_s']:.2f} | {r['peak_gib']:.2f} | {r['step_gib']:.2f} |")


if __name__ == "__main__":
    main()
