"""Run-level guards: weights are loaded with weights_only=True, a model.pt / checkpoint.pt from
another configuration is refused with one line naming the mismatch (daily job and resume),
and the memory check stops `stockformer train` before any model is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
import torch

from stockformer.cli import main
from stockformer.config import ModelConfig, config_from_dict
from stockformer.data.store import save_dataset
from stockformer.data.synthetic import generate_market
from stockformer.jobs.run_model import load_graph
from stockformer.model.registry import build_model
from stockformer.rundir import load_run

SETS = ["features.window=10", "features.min_history=20", "graph.embedding=spectral",
        "graph.dim=8", "graph.top_k=8", "model.t1=8", "model.t2=2", "model.d_model=16",
        "model.layers=1", "model.heads=2", "model.dropout=0.0", "train.device=cpu",
        "train.epochs=1", "train.batch_size=16", "job.calendar=data"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    from stockformer.train.run import train_run

    root = tmp_path_factory.mktemp("ckpt")
    market = generate_market(stocks=20, days=200, seed=7)
    data = save_dataset(market, root / "data")
    raw = {"name": "ckpt", "seed": 0, "data": {"path": str(data)},
           "features": {"cache_dir": str(root / "cache")}}
    for item in SETS:
        key, value = item.split("=")
        sec, leaf = key.split(".")
        raw.setdefault(sec, {})[leaf] = int(value) if value.isdigit() else (
            0.0 if value == "0.0" else value)
    run = train_run(config_from_dict(raw), run_dir=root / "run")
    return {"root": root, "data": data, "run": run, "day": market["date"].max()}


def copy_run(world, tmp_path: Path) -> Path:
    return Path(shutil.copytree(world["run"], tmp_path / "run"))


def predict(world, run: Path, out: Path) -> int:
    return main(["predict", "--run", str(run), "--data", str(world["data"]), "--out", str(out),
                 "--date", world["day"].isoformat(), "--calendar", "data"])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_the_untouched_run_predicts(world, tmp_path, capsys):
    assert predict(world, copy_run(world, tmp_path), tmp_path / "out") == 0
    assert (tmp_path / "out" / f"{world['day']}.parquet").is_file()


def _other_state(world, change: str) -> dict:
    info = load_run(world["run"])
    graph = load_graph(info)
    n_feat = len(info.feature_names)
    n = len(info.symbols)
    cfg: ModelConfig = info.config.model
    if change == "features":
        n_feat += 6  # e.g. features.window 11 instead of 10
    elif change == "model":
        cfg = cfg.model_copy(update={"d_model": 32})
    elif change == "architecture":
        cfg = cfg.model_copy(update={"name": "lstm"})
    return build_model(cfg, n_feat, n, graph).state_dict()


@pytest.mark.parametrize(("change", "named"), [
    ("features", "decouple.factors.weight has shape [32, 66] in the file, [32, 60] expected"),
    ("model", "has shape"),
    ("architecture", "is missing from the file"),
])
def test_daily_job_refuses_a_model_from_another_config(world, tmp_path, capsys, change, named):
    run = copy_run(world, tmp_path)
    torch.save(_other_state(world, change), run / "model.pt")
    capsys.readouterr()
    assert predict(world, run, tmp_path / "out") == 2
    line = one_error_line(capsys)
    assert "model.pt: made for another configuration" in line and named in line, line
    assert not (tmp_path / "out" / f"{world['day']}.parquet").exists()


class Boom:
    """Unpickling this would create a file: weights_only=True must refuse it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("kind", ["unsafe_pickle", "truncated", "not_torch"])
def test_daily_job_refuses_unsafe_or_corrupt_weights(world, tmp_path, capsys, kind):
    run = copy_run(world, tmp_path)
    marker = tmp_path / "pwned"
    if kind == "unsafe_pickle":
        torch.save({"w": Boom(str(marker))}, run / "model.pt")
    elif kind == "truncated":
        raw = (run / "model.pt").read_bytes()
        (run / "model.pt").write_bytes(raw[: len(raw) // 2])
    else:
        (run / "model.pt").write_text("hello")
    capsys.readouterr()
    assert predict(world, run, tmp_path / "out") == 2
    assert "model.pt: unreadable or unsafe weights file" in one_error_line(capsys)
    assert not marker.exists()


def test_every_load_uses_weights_only(world, tmp_path, monkeypatch, capsys):
    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    run = copy_run(world, tmp_path)
    assert predict(world, run, tmp_path / "out") == 0
    assert resume(run, []) == 0  # reads checkpoint.pt (nothing left to train: 1 of 1 epochs)
    assert len(calls) >= 2 and all(c is True for c in calls), calls


def resume(run: Path, sets: list[str]) -> int:
    args = ["train", "--config", str(run / "config.yaml"), "--run-dir", str(run), "--resume"]
    for item in sets:
        args += ["--set", item]
    return main(args)


@pytest.mark.parametrize(("sets", "named"), [
    (["model.d_model=32"], "model.d_model (checkpoint 16, now 32)"),
    (["data.max_stocks=15"], "n_stocks (checkpoint 20, now 15)"),
    (["features.window=11"], "n_features (checkpoint 60, now 66)"),
])
def test_resume_refuses_a_checkpoint_from_another_config(world, tmp_path, capsys, sets, named):
    run = copy_run(world, tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    capsys.readouterr()
    assert resume(run, sets) == 2
    line = one_error_line(capsys)
    assert "checkpoint.pt: made for another configuration" in line and named in line, line
    # the refused resume leaves the run directory as it was (config, symbols, weights)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_train_over_the_memory_limit_exits_2_and_writes_no_model(world, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--data", str(world["data"]), "--run-dir", str(run)]
    for item in [*SETS, f"features.cache_dir={world['root'] / 'cache'}",
                 "train.max_memory_gb=0.001"]:
        args += ["--set", item]
    capsys.readouterr()
    assert main(args) == 2
    line = one_error_line(capsys)
    assert "train.max_memory_gb = 0.001" in line
    assert "smaller batch" in line and "sparse spatial attention" in line, line
    assert not (run / "model.pt").exists() and not (run / "checkpoint.pt").exists()
    assert not run.exists()
    # the same settings without the limit train fine: that is the module fixture's run
    assert pl.read_parquet(world["run"] / "predictions.parquet").height > 0
