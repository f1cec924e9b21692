"""Walk-forward and compare as Ray tasks, on a local Ray instance this module starts and stops.

Ray is in the dev extra, so these run in CI; importorskip only guards a machine without it.
Each test compares the Ray run with the same run in this process: equal numbers on CPU with
fixed seeds. A failure is injected into one task with STOCKFORMER_FAIL_TASKS (read where the
tasks are submitted, so it reaches the Ray workers).
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from stockformer.backtest.compare import compare
from stockformer.cli import main
from stockformer.config import load_config
from stockformer.data.store import save_dataset
from stockformer.data.synthetic import generate_market
from stockformer.distributed import FAIL_ENV, TaskFailures
from stockformer.rundir.layout import OUTCOME_FILE, ROW_FILE
from stockformer.train import run as run_module
from stockformer.train.run import train_run

ray = pytest.importorskip("ray")

# what the two runs must agree on (timings and folders differ by nature)
METRIC_COLUMNS = ["model", "seed", "ic", "rank_ic", "icir", "rank_icir", "accuracy", "majority_rate",
                  "val_rank_ic", "trade_output", "annualized_return", "sharpe", "max_drawdown", "turnover"]
ROLLING = {"split.scheme": "rolling", "split.rolling.train": 150, "split.rolling.val": 40,
           "split.rolling.test": 40, "split.rolling.step": 40}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    save_dataset(generate_market(stocks=24, days=330, seed=3), root / "synth")
    return root


def tiny(market, **extra):
    return load_config(None, {
        "name": "tiny", "runs_dir": str(market / "runs"), "data.path": str(market / "synth"),
        "features.cache_dir": str(market / "cache"), "graph.embedding": "spectral", "graph.dim": 4,
        "model.name": "mlp", "model.d_model": 8, "model.layers": 1, "train.device": "cpu",
        "train.epochs": 1, "train.batch_size": 16, "backtest.topk": 3, "backtest.n_drop": 1, **extra,
    })


@pytest.fixture(scope="module")
def local_walkforward(market, tmp_path_factory):
    return train_run(tiny(market, **ROLLING), run_dir=tmp_path_factory.mktemp("wf") / "local",
                     walkforward=True)


def not_here(*_args, **_kwargs):
    raise AssertionError("a window was fitted in the driver, not by a Ray worker")


def window_files(run_dir):
    return {p.parent.name: p.stat().st_mtime_ns for p in sorted(run_dir.glob(f"windows/w*/{OUTCOME_FILE}"))}


def test_walkforward_on_ray_equals_local_run(local_ray, market, local_walkforward, tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "fit_window", not_here)  # the Ray workers import their own
    on_ray = train_run(tiny(market, **ROLLING), run_dir=tmp_path / "ray", walkforward=True,
                       ray_address="auto")
    local = local_walkforward
    assert pl.read_parquet(on_ray / "predictions.parquet").equals(pl.read_parquet(local / "predictions.parquet"))
    m_ray, m_local = (json.loads((d / "metrics.json").read_text()) for d in (on_ray, local))
    assert len(m_ray["windows"]) >= 3
    for key in ("test", "validation", "trade_output"):
        assert m_ray[key] == m_local[key]
    assert [w["test"] for w in m_ray["windows"]] == [w["test"] for w in m_local["windows"]]
    assert set(window_files(on_ray)) == {f"w{k:02d}" for k in range(len(m_ray["windows"]))}


def test_compare_fans_out_windows_models_seeds_on_ray(local_ray, market, tmp_path, monkeypatch):
    cfg = tiny(market, **ROLLING)
    local = compare(cfg, ["mlp", "momentum"], seeds=2, out_dir=tmp_path / "local")
    monkeypatch.setattr(run_module, "fit_window", not_here)
    on_ray = compare(cfg, ["mlp", "momentum"], seeds=2, out_dir=tmp_path / "ray", ray="auto")
    rows = {name: pl.read_csv(tmp_path / name / "comparison.csv").select(METRIC_COLUMNS)
            for name in ("local", "ray")}
    assert rows["ray"].height == 4 and rows["ray"].equals(rows["local"])
    same = [c for c in local.columns if not c.startswith("train_seconds")]
    assert on_ray.select(same).equals(local.select(same))
    # every (model, seed) is a walk-forward run of several windows, each fitted as its own task
    assert len(window_files(tmp_path / "ray" / "models" / "mlp-s1")) >= 3


def test_failed_task_is_named_finished_ones_kept_and_rerun_skips_them(local_ray, market, tmp_path,
                                                                      monkeypatch):
    cfg = tiny(market)  # one split: each (model, seed) is one task, 1 torch thread on Ray and here
    local = compare(cfg, ["mlp", "momentum"], seeds=2, out_dir=tmp_path / "local", threads=1)
    out = tmp_path / "ray"
    monkeypatch.setenv(FAIL_ENV, "mlp seed 1")
    with pytest.raises(TaskFailures) as err:
        compare(cfg, ["mlp", "momentum"], seeds=2, out_dir=out, ray="auto")
    assert err.value.failed == ["mlp seed 1"]
    assert "mlp seed 1: RuntimeError: injected failure" in str(err.value)
    assert "the 3 finished are saved; rerun with the same --out" in str(err.value)
    partial = pl.read_csv(out / "comparison.csv")
    assert sorted(zip(partial["model"], partial["seed"], strict=True)) == [
        ("mlp", 0), ("momentum", 0), ("momentum", 1)]
    assert not (out / "models" / "mlp-s1" / ROW_FILE).exists()
    finished = {p: p.stat().st_mtime_ns for p in out.glob(f"models/*/{ROW_FILE}")}
    finished |= {p: p.stat().st_mtime_ns for p in out.glob(f"models/*/{OUTCOME_FILE}")}
    assert len(finished) == 6

    monkeypatch.delenv(FAIL_ENV)
    compare(cfg, ["mlp", "momentum"], seeds=2, out_dir=out, ray="auto")
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # not run again
    assert (out / "models" / "mlp-s1" / OUTCOME_FILE).is_file()
    rows = pl.read_csv(out / "comparison.csv").select(METRIC_COLUMNS)
    assert rows.equals(pl.read_csv(tmp_path / "local" / "comparison.csv").select(METRIC_COLUMNS))
    assert local.get_column("model").to_list() == ["mlp", "momentum"]


def test_walkforward_cli_names_the_failed_window_and_a_rerun_finishes(local_ray, market, local_walkforward,
                                                                      tmp_path, monkeypatch, capsys):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(tiny(market, **ROLLING).to_yaml())
    out = tmp_path / "wf"
    argv = ["walkforward", "--config", str(cfg_file), "--run-dir", str(out), "--ray", "auto", "--quiet"]
    monkeypatch.setenv(FAIL_ENV, "window w01")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 of " in err[0] and "window w01: RuntimeError: injected failure" in err[0]
    assert "rerun with the same --run-dir" in err[0]
    before = window_files(out)
    assert "w00" in before and "w01" not in before and not (out / "metrics.json").exists()

    monkeypatch.delenv(FAIL_ENV)
    monkeypatch.setattr(run_module, "fit_window", not_here)
    assert main(argv) == 0, capsys.readouterr().err
    after = window_files(out)
    assert {k: after[k] for k in before} == before and "w01" in after
    assert pl.read_parquet(out / "predictions.parquet").equals(
        pl.read_parquet(local_walkforward / "predictions.parquet"))
    assert (out / "backtest" / "windows.csv").is_file()


def test_ray_missing_is_one_line(monkeypatch):
    import sys

    from stockformer.distributed import Executor, Task, run_tasks
    from stockformer.errors import RunError

    monkeypatch.setitem(sys.modules, "ray", None)  # as on a machine without the extra
    with pytest.raises(RunError, match=r"--ray auto: Ray is not installed \(pip install 'stockformer\[ray\]'\)"):
        run_tasks([Task("t", print, ())], lambda i, r: None, Executor(ray="auto"))
