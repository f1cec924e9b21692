"""Daily job benchmark: one prediction for a 5,000-stock universe on CPU, end to end after
the data update (read the dataset, Alpha360 over the lookback, build + load the model and the
graph, forward pass, strategy, atomic writes, manifest). Nothing is trained: a fake run
directory holds a randomly initialised Stockformer (sparse spatial attention) at N stocks.

    python -m benchmarks.bench_predict               # N = 5000 (the goal: < 60 s)
    python -m benchmarks.bench_predict --stocks 500  # quick
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path


def make_fake_run(root: Path, data_dir: Path, n_stocks: int, symbols: list[str], seed: int = 0):
    """runs/<id>/ as train_run writes it, with random weights and a random kNN graph."""
    import numpy as np
    import torch

    from stockformer.config import config_from_dict
    from stockformer.factors.alpha360 import feature_names
    from stockformer.graph import StockGraph
    from stockformer.io import write_json, write_text
    from stockformer.model.registry import build_model

    cfg = config_from_dict({
        "name": "bench", "seed": seed, "data": {"path": str(data_dir)},
        "features": {"cache_dir": None},
        "model": {"spatial_attention": "sparse", "sparse_k": 16},
        "train": {"device": "cpu"},
        "job": {"calendar": "data"},
    })
    rng = np.random.default_rng(seed)
    k = cfg.model.sparse_k
    adj = np.zeros((n_stocks, n_stocks), np.float32)
    nbr = rng.integers(0, n_stocks - 1, size=(n_stocks, k))
    nbr += nbr >= np.arange(n_stocks)[:, None]  # no self loops
    adj[np.repeat(np.arange(n_stocks), k), nbr.ravel()] = rng.uniform(0.1, 1, n_stocks * k)
    emb = rng.standard_normal((n_stocks, cfg.graph.dim)).astype(np.float32)
    graph = StockGraph.from_adjacency(adj, emb)
    run = root / "run"
    run.mkdir(parents=True)
    graph.save(run / "graph.npz")
    names = feature_names(cfg.features.window)
    torch.manual_seed(seed)
    model = build_model(cfg.model, len(names), n_stocks, graph)
    torch.save(model.state_dict(), run / "model.pt")
    write_text(run / "config.yaml", cfg.to_yaml())
    write_json(run / "symbols.json", symbols)
    write_json(run / "feature_names.json", list(names))
    write_json(run / "metrics.json", {"trade_output": "blend"})
    params = sum(p.numel() for p in model.parameters())
    return run, cfg, params


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--days", type=int, default=250, help="days of history in the dataset")
    args = ap.parse_args()

    import polars as pl

    from stockformer.data.store import save_dataset
    from stockformer.data.synthetic import generate_market
    from stockformer.jobs import daily
    from stockformer.jobs.job import run_job
    from stockformer.jobs.run_model import load_graph, load_model
    from stockformer.rundir import load_run

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        panel = generate_market(stocks=args.stocks, days=args.days, seed=0)
        data = save_dataset(panel, root / "data")
        symbols = panel["symbol"].unique().sort().to_list()
        run, cfg, params = make_fake_run(root, data, args.stocks, symbols)
        setup = time.perf_counter() - t0
        day = panel["date"].max()
        del panel

        rows = []
        for label, force in (("cold (first run in the process)", False), ("warm (--force)", True)):
            t = time.perf_counter()
            res = run_job(run, data, out=root / "pred", day=day, force=force, calendar="data")
            rows.append((label, time.perf_counter() - t, res.status, res.rows))

        # where the time goes (same steps as the job, timed one by one)
        info = load_run(run)
        t = time.perf_counter()
        p = pl.read_parquet(data / "panel.parquet")
        p = p.filter(pl.col("symbol").is_in(info.symbols) & (pl.col("date") <= day))
        t_read = time.perf_counter() - t
        t = time.perf_counter()
        fs = daily.build_day_features(info, p, day)
        t_feat = time.perf_counter() - t
        t = time.perf_counter()
        graph = load_graph(info)
        model = load_model(info, len(fs.feature_names), graph)
        t_load = time.perf_counter() - t
        t = time.perf_counter()
        import numpy as np
        import torch

        from stockformer.train.trainer import predict
        with torch.no_grad():
            predict(model, fs, np.array([len(fs.dates) - 1]), graph, device="cpu", batch_size=1)
        t_fwd = time.perf_counter() - t
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    print(f"## Daily job: N = {args.stocks} stocks, {args.days} days in the dataset, "
          f"t1 = {cfg.model.t1}, Alpha360 window {cfg.features.window} "
          f"(lookback {daily.lookback_days(info)} days), d_model {cfg.model.d_model}, "
          f"{cfg.model.layers} layers, sparse attention k = {cfg.model.sparse_k}, "
          f"{params:,} parameters\n")
    print("| run | wall s | status | rows |")
    print("|---|---:|---|---:|")
    for label, sec, status, n in rows:
        print(f"| {label} | {sec:.1f} | {status} | {n} |")
    print("\n| step | s |")
    print("|---|---:|")
    for name, sec in (("read + filter the dataset", t_read), ("features (lookback, t1 days)", t_feat),
                      ("graph + model build/load", t_load), ("forward pass", t_fwd)):
        print(f"| {name} | {sec:.2f} |")
    print(f"\nsetup (synthetic market + fake run, not part of the job): {setup:.1f} s; "
          f"peak RSS {peak_gb:.2f} GB; torch threads {torch.get_num_threads()}")
    print(json.dumps({"goal_s": 60, "cold_s": round(rows[0][1], 2), "warm_s": round(rows[1][1], 2)}))


if __name__ == "__main__":
    main()
