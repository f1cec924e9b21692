"""Bigger-than-memory features: build a memmap feature store and train a few steps from it.

    python -m benchmarks.bench_memmap                     # 5,000 x 2,500 x 360 = 18 GB on disk
    python -m benchmarks.bench_memmap --stocks 60 --days 300 --steps 3    # a small smoke run

Two phases, each in a fresh process so its peak memory is its own:
1. build: a random panel (stockformer.data.random_panel) -> build_features with
   features.store = memmap: Alpha360 + preprocessing in 32-date chunks, each chunk written to
   the store's file and dropped (factors/store.py);
2. train: open the store (a read-only np.memmap) and fit the Stockformer (sparse attention,
   a small d_model) for `--steps` steps on anchors drawn across the whole date range, so the
   windows come from every part of the file.
Memory is reported three ways: peak RSS (ru_maxrss: includes the store's file pages mapped into
the process, which are the kernel's clean page cache and are dropped under pressure), peak
anonymous RSS (RssAnon, sampled every 20 ms: what the process itself holds) and the store's size.
The store is deleted at the end unless --keep. Full size writes 18 GB: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
import types
from pathlib import Path

import numpy as np

from benchmarks.bench_factors import _run  # each phase in a fresh spawned process


class _Sampler:
    """Peak RssAnon / RssFile of this process, from /proc/self/status every 20 ms."""

    def __init__(self) -> None:
        self.peak = {"RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with open("/proc/self/status", encoding="ascii") as fh:
                for line in fh:
                    key = line.split(":", 1)[0]
                    if key in self.peak:
                        self.peak[key] = max(self.peak[key], int(line.split()[1]) * 1024)
        except OSError:  # not Linux: only ru_maxrss is reported
            self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._read()
            time.sleep(0.02)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self._read()
        import resource

        gib = {k: v / 2**30 for k, v in self.peak.items()}
        return {"peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                "peak_anon_gib": gib["RssAnon"], "peak_file_gib": gib["RssFile"]}


def _build(stocks: int, days: int, root: str, q) -> None:
    from stockformer.config import FeaturesConfig
    from stockformer.data.random_panel import random_panel
    from stockformer.factors.pipeline import build_features

    panel = random_panel(stocks, days, seed=0)
    sampler = _Sampler()
    t0, c0 = time.perf_counter(), time.process_time()
    fs = build_features(panel, FeaturesConfig(cache_dir=root, store="memmap"), use_cache=False)
    out = {"phase": "build", "seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
           "store": fs.report["cache_path"], "shape": list(fs.features.shape),
           "store_gib": fs.features.nbytes / 2**30}
    q.put({**out, **sampler.stop()})


def _train(store: str, steps: int, batch: int, d_model: int, q) -> None:
    import torch

    from stockformer.config import ModelConfig, TrainConfig
    from stockformer.factors.store import open_store
    from stockformer.train.trainer import fit

    sampler = _Sampler()
    fs = open_store(store)
    t, n, _ = fs.features.shape
    t1, t2 = 20, 2
    rng = np.random.default_rng(0)
    first = max(t1 - 1, 60)  # past Alpha360's warm-up days
    anchors = np.sort(rng.choice(np.arange(first, t - t2), size=min(steps * batch, t - t2 - first),
                                 replace=False))
    split = types.SimpleNamespace(name="memmap", train=anchors, val=anchors[:0], test=anchors[:0],
                                  fit_end=int(anchors[-1]))
    src = rng.integers(0, n, size=(n, 16)).reshape(-1)
    graph = types.SimpleNamespace(edge_index=np.stack([src, np.repeat(np.arange(n), 16)]),
                                  edge_weight=rng.random(n * 16).astype(np.float32),
                                  embedding=rng.standard_normal((n, 32)).astype(np.float32))
    mcfg = ModelConfig(t1=t1, t2=t2, d_model=d_model, layers=1, heads=1,
                       spatial_attention="sparse", sparse_k=16)
    tcfg = TrainConfig(device="cpu", epochs=1, batch_size=batch, early_stopping=None)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    res = fit(fs, split, graph, mcfg, tcfg, seed=0, label="memmap")
    out = {"phase": "train", "seconds": time.perf_counter() - t0, "steps": -(-len(anchors) // batch),
           "batch": batch, "loss": res.history[-1]["train_loss"],
           "still_memmap": isinstance(fs.features, np.memmap)}
    q.put({**out, **sampler.stop()})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--days", type=int, default=2500)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--d-model", type=int, default=32)
    ap.add_argument("--path", default="data/cache/bench_memmap", help="where the store goes")
    ap.add_argument("--keep", action="store_true", help="keep the store afterwards")
    args = ap.parse_args()
    load = os.getloadavg()
    root = Path(args.path)
    try:
        build = _run(_build, args.stocks, args.days, str(root))
        train = _run(_train, build["store"], args.steps, args.batch, args.d_model)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    t, n, f = build["shape"]
    print(f"store: {t} days x {n} stocks x {f} factors = {build['store_gib']:.2f} GiB float32")
    print("| phase | wall s | cpu s | peak RSS GiB | peak anonymous GiB | peak file-backed GiB | note |")
    print("|---|---|---|---|---|---|---|")
    print(f"| build (stream to store) | {build['seconds']:.1f} | {build['cpu']:.1f} | "
          f"{build['peak_rss_gib']:.2f} | {build['peak_anon_gib']:.2f} | "
          f"{build['peak_file_gib']:.2f} | input panel included |")
    print(f"| train from store | {train['seconds']:.1f} | - | {train['peak_rss_gib']:.2f} | "
          f"{train['peak_anon_gib']:.2f} | {train['peak_file_gib']:.2f} | {train['steps']} steps of "
          f"batch {train['batch']}, loss {train['loss']:.4f}, features still a memmap: "
          f"{train['still_memmap']} |")
    print(f"- load average (1, 5, 15 min) at start {load}, at end {os.getloadavg()}; "
          f"{os.cpu_count()} cpus")


if __name__ == "__main__":
    main()
