"""Seed ensembles (train.ensemble = K): the rank average, the run's outputs against K single
runs, the daily job on an ensemble run, resuming members, and compare's `:ensK` suffix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from stockformer.backtest.compare import model_config
from stockformer.cli import main
from stockformer.config import config_from_dict
from stockformer.data.store import save_dataset
from stockformer.data.synthetic import generate_market
from stockformer.errors import ConfigError
from stockformer.rundir import ensemble_size, member_model_paths
from stockformer.signal.ensemble import combine, rank_average
from stockformer.signal.trade_output import trade_score

STOCKS, DAYS = 20, 220
NAN = np.nan


# --- the rank average -------------------------------------------------------------------------

def test_rank_average_is_the_mean_of_daily_normalized_ranks():
    m1 = np.array([[3.0, 1.0, 1.0, 9.0],  # a tie; the last cell is invalid
                   [2.0, 5.0, NAN, 1.0]])  # a non-finite score on a valid cell
    m2 = np.array([[1.0, 2.0, 3.0, 4.0],
                   [4.0, 3.0, 2.0, 1.0]])
    valid = np.array([[True, True, True, False], [True, True, True, True]])
    # row 0, 3 valid cells: m1 ranks 3, 1.5, 1.5 -> 5/6, 1/3, 1/3; m2 ranks 1, 2, 3 -> 1/6, 1/2, 5/6
    # row 1: m1 ranks 2, 3, -, 1 of n = 3 -> 1/2, 5/6, -, 1/6; m2 ranks 4, 3, 2, 1 of 4 -> 7/8 .. 1/8
    want = np.array([[1 / 2, 5 / 12, 7 / 12, NAN],
                     [11 / 16, 35 / 48, NAN, 7 / 48]])
    got = rank_average([m1, m2], valid)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    assert np.array_equal(np.isnan(got), np.isnan(want))


def test_one_member_is_an_order_preserving_transform_and_combine_keeps_it_raw():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(5, 12))
    s[0, 3] = s[0, 4]  # a tie stays a tie
    valid = rng.random((5, 12)) > 0.2
    r = rank_average([s], valid)
    assert np.isnan(r[~valid]).all() and ((r[valid] > 0) & (r[valid] < 1)).all()
    for t in range(5):
        v = np.flatnonzero(valid[t])
        assert np.array_equal(np.sign(np.subtract.outer(r[t, v], r[t, v])),
                              np.sign(np.subtract.outer(s[t, v], s[t, v])))
    assert combine([s], valid) is s  # K = 1: the run trades the member's own score, unchanged


# --- end to end on a tiny market --------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    from stockformer.train.run import train_run

    root = tmp_path_factory.mktemp("ens")
    market = generate_market(stocks=STOCKS, days=DAYS, seed=5)
    days = market["date"].unique().sort().to_list()
    data = save_dataset(market, root / "data")

    def cfg(seed: int, ensemble: int):
        return config_from_dict({
            "name": "ens", "seed": seed,
            "data": {"path": str(data), "end": days[-15].isoformat()},
            "features": {"window": 10, "cache_dir": str(root / "cache"), "min_history": 20},
            "graph": {"embedding": "spectral", "dim": 8, "top_k": 8},  # seed-free graph
            "model": {"t1": 8, "t2": 2, "d_model": 16, "layers": 1, "heads": 2, "dropout": 0.1},
            "train": {"device": "cpu", "epochs": 1, "batch_size": 16, "ensemble": ensemble},
            "backtest": {"topk": 5, "n_drop": 1},
            "job": {"calendar": "data"},
        })

    runs = {}
    for name, seed, k in (("ens", 0, 2), ("s0", 0, 1), ("s1", 1, 1)):
        torch.manual_seed(99 + len(runs))  # the global RNG state must not matter
        runs[name] = train_run(cfg(seed, k), run_dir=root / name)
    return {"root": root, "data": str(data), "market": market, "cfg": cfg, **runs}


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def wide(run: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """[dates, symbols] of one predictions column (NaN where no prediction) and its validity."""
    p = pl.read_parquet(run / "predictions.parquet")
    w = p.pivot(on="symbol", index="date", values=column).sort("date")
    x = w.drop("date").select(sorted(w.columns[1:])).to_numpy().astype(np.float64)
    return x, np.isfinite(x)


def test_ensemble_run_is_the_rank_average_of_single_seed_runs(world):
    ens, s0, s1 = world["ens"], world["s0"], world["s1"]
    out = metrics(ens)["trade_output"]
    members = []
    for run in (s0, s1):
        pred, valid = wide(run, "pred_return")
        prob, _ = wide(run, "prob_up")
        members.append((pred, prob))
    score, ens_valid = wide(ens, "score")
    assert np.array_equal(ens_valid, valid)
    want = rank_average([trade_score(out, p, q, valid) for p, q in members], valid)
    np.testing.assert_allclose(score[valid], want[valid], rtol=0, atol=1e-12)
    # the raw outputs are the members' mean
    np.testing.assert_allclose(wide(ens, "pred_return")[0][valid],
                               ((members[0][0] + members[1][0]) / 2)[valid], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(wide(ens, "prob_up")[0][valid],
                               ((members[0][1] + members[1][1]) / 2)[valid], rtol=1e-6, atol=1e-9)


def test_ensemble_run_directory_and_metrics(world):
    ens, s0, s1 = world["ens"], world["s0"], world["s1"]
    for f in ("model.pt", "checkpoint.pt", "history.csv", "graph.npz"):
        assert (ens / f).is_file()
    for f in ("model.pt", "checkpoint.pt", "history.csv"):
        assert (ens / "ensemble" / "m1" / f).is_file()
    assert not (ens / "ensemble" / "m2").exists() and not (s0 / "ensemble").exists()
    # member k is exactly the single run trained with seed + k
    for path, single in ((ens / "model.pt", s0), (ens / "ensemble" / "m1" / "model.pt", s1)):
        got, want = (torch.load(p, weights_only=True) for p in (path, single / "model.pt"))
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)
    m = metrics(ens)
    assert m["ensemble"] == 2 and metrics(s0)["ensemble"] == 1
    recs = m["ensemble_members"]
    assert [(r["member"], r["seed"], r["dir"]) for r in recs] == [(0, 0, "."), (1, 1, "ensemble/m1")]
    assert [r["best_epoch"] for r in recs] == [metrics(s0)["best_epoch"], metrics(s1)["best_epoch"]]
    assert all(np.isfinite(r["validation_rank_ic"]) for r in recs)
    assert recs[0]["validation_rank_ic"] != recs[1]["validation_rank_ic"]  # different seeds


def test_single_member_run_trades_its_raw_score(world):
    """K = 1 is today's behaviour: the traded score is the trade output itself, not a rank."""
    s0 = world["s0"]
    out = metrics(s0)["trade_output"]
    pred, valid = wide(s0, "pred_return")
    prob, _ = wide(s0, "prob_up")
    score, _ = wide(s0, "score")
    np.testing.assert_allclose(score[valid], trade_score(out, pred, prob, valid)[valid],
                               rtol=0, atol=1e-12)


def test_train_summary_mentions_the_ensemble(world, capsys):
    from stockformer.pipeline_commands import print_metrics

    print_metrics(world["ens"])
    assert "ensemble of 2" in capsys.readouterr().out
    print_metrics(world["s0"])
    assert "ensemble of" not in capsys.readouterr().out


def predict(run: Path, data: str, out: Path, day) -> int:
    return main(["predict", "--run", str(run), "--data", data, "--out", str(out),
                 "--date", day.isoformat()])


def test_daily_job_on_an_ensemble_run_reproduces_its_predictions(world, tmp_path):
    from stockformer.jobs.manifest import read_manifest
    from stockformer.rundir import load_run

    ens = world["ens"]
    info = load_run(ens)
    assert info.models == member_model_paths(ens, 2) == [ens / "model.pt",
                                                         ens / "ensemble" / "m1" / "model.pt"]
    stored = pl.read_parquet(ens / "predictions.parquet")
    day = stored["date"].max()
    out = tmp_path / "pred"
    data = str(save_dataset(world["market"], tmp_path / "data"))
    assert predict(ens, data, out, day) == 0
    job = pl.read_parquet(out / f"{day}.parquet").filter(pl.col("rank").is_not_null())
    ref = stored.filter(pl.col("date") == day).join(job, on="symbol", suffix="_job")
    assert ref.height == job.height >= STOCKS - 3
    np.testing.assert_allclose(ref["score_job"], ref["score"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ref["pred_return_job"], ref["pred_return"], rtol=1e-4, atol=1e-5)
    # the manifest's hash covers every member, not model.pt alone
    single = load_run(world["s0"]).model_hash
    assert read_manifest(out)["model_hash"][0] == info.model_hash != single


def test_daily_job_refuses_an_ensemble_run_missing_a_member(world, tmp_path, capsys):
    broken = tmp_path / "run"
    shutil.copytree(world["ens"], broken)
    (broken / "ensemble" / "m1" / "model.pt").unlink()
    day = pl.read_parquet(broken / "predictions.parquet")["date"].max()
    data = str(save_dataset(world["market"], tmp_path / "data"))
    assert predict(broken, data, tmp_path / "pred", day) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "m1/model.pt: missing" in err[0]


def test_resume_continues_members_and_grows_the_ensemble(world, tmp_path):
    """--resume with more members: members 0 and 1 are finished (their checkpoints load, no
    epoch reruns, history untouched); member 2 trains with seed + 2."""
    from stockformer.train.run import train_run

    run = tmp_path / "run"
    shutil.copytree(world["ens"], run)
    histories = [run / "history.csv", run / "ensemble" / "m1" / "history.csv"]
    before = [(h.read_bytes(), h.stat().st_mtime_ns) for h in histories]
    train_run(world["cfg"](0, 3), run_dir=run, resume=True)
    assert [(h.read_bytes(), h.stat().st_mtime_ns) for h in histories] == before
    assert (run / "ensemble" / "m2" / "model.pt").is_file()
    m = metrics(run)
    assert m["ensemble"] == 3 and [r["seed"] for r in m["ensemble_members"]] == [0, 1, 2]
    assert ensemble_size(world["cfg"](0, 3)) == 3


# --- compare -----------------------------------------------------------------------------------

@pytest.fixture()
def base_cfg():
    return config_from_dict({"name": "cmp", "train": {"device": "cpu"}})


def test_compare_parses_the_ensemble_suffix(base_cfg):
    c = model_config(base_cfg, "stockformer:ens3", 4)
    assert (c.model.name, c.train.ensemble, c.train.shuffle_labels, c.seed) == ("stockformer", 3, False, 4)
    for spec in ("stockformer:ens2:shuffled", "stockformer:shuffled:ens2"):
        c = model_config(base_cfg, spec, 0)
        assert (c.model.name, c.train.ensemble, c.train.shuffle_labels) == ("stockformer", 2, True)
    assert model_config(base_cfg, "gru", 0).train.ensemble == 1
    base_cfg.train.ensemble = 2  # the config's ensemble applies to every entry without a suffix
    assert model_config(base_cfg, "gru", 0).train.ensemble == 2
    assert model_config(base_cfg, "gru:ens4", 0).train.ensemble == 4
    assert ensemble_size(model_config(base_cfg, "momentum:ens3", 0)) == 1  # seedless reference


@pytest.mark.parametrize("spec", ["stockformer:ens0", "stockformer:ensx", "stockformer:ens",
                                  "stockformer:ens-1", "stockformer:ens2:ens3", "stockformer:shufled"])
def test_compare_rejects_malformed_suffixes(base_cfg, spec):
    with pytest.raises(ConfigError, match="bad suffix") as err:
        model_config(base_cfg, spec, 0)
    assert "\n" not in str(err.value)


def test_compare_cli_rejects_a_malformed_suffix_in_one_line(tmp_path, capsys):
    data = save_dataset(generate_market(stocks=5, days=60, seed=1), tmp_path / "data")
    rc = main(["compare", "--models", "mlp,stockformer:ens0", "--out", str(tmp_path / "c"),
               "--data", str(data), "--device", "cpu"])
    assert rc == 2
    assert not (tmp_path / "c" / "models").exists()  # refused before any training
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stockformer:ens0" in err[0]
