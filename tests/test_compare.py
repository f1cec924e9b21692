"""`stockformer compare` and walk-forward on a tiny synthetic market."""

import json

import polars as pl
import pytest

from stockformer.backtest.compare import compare, markdown_table, model_config
from stockformer.cli import main
from stockformer.config import load_config
from stockformer.data.store import save_dataset
from stockformer.data.synthetic import generate_market
from stockformer.errors import ConfigError


@pytest.fixture(scope="module")
def tiny_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    save_dataset(generate_market(stocks=24, days=330, seed=3), root / "synth")
    return load_config(None, {
        "name": "tiny", "runs_dir": str(root / "runs"), "data.path": str(root / "synth"),
        "features.cache_dir": str(root / "cache"), "graph.embedding": "spectral", "graph.dim": 4,
        "model.d_model": 8, "model.layers": 1, "train.device": "cpu", "train.epochs": 1,
        "train.batch_size": 16, "backtest.topk": 3, "backtest.n_drop": 1,
    })


def test_compare_writes_table_per_model_and_seed(tiny_cfg, tmp_path):
    summary = compare(tiny_cfg, ["mlp", "momentum", "reversal"], seeds=2, out_dir=tmp_path)
    rows = pl.read_csv(tmp_path / "comparison.csv")
    assert rows.height == 6 and set(rows["model"]) == {"mlp", "momentum", "reversal"}
    assert rows.columns.index("majority_rate") == rows.columns.index("accuracy") + 1
    assert rows["majority_rate"].is_between(0.5, 1.0).all()
    assert "| accuracy | majority_rate |" in (tmp_path / "comparison.md").read_text()
    assert summary.get_column("model").to_list() == ["mlp", "momentum", "reversal"]
    # references are deterministic: zero spread over seeds; the neural model is seeded differently
    mom = summary.filter(pl.col("model") == "momentum").row(0, named=True)
    assert mom["rank_ic_std"] == pytest.approx(0.0, abs=1e-12)
    table = (tmp_path / "comparison.md").read_text()
    assert table == markdown_table(summary) and "| mlp | 2 |" in table
    for r in rows.iter_rows(named=True):
        run = tmp_path / "models" / f"{r['model']}-s{r['seed']}"
        assert (run / "backtest" / "summary.json").is_file()
        assert json.loads((run / "metrics.json").read_text())["model"] == r["model"]


def test_shuffled_control_and_unknown_models(tiny_cfg):
    cfg = model_config(tiny_cfg, "stockformer:shuffled", 5)
    assert cfg.model.name == "stockformer" and cfg.train.shuffle_labels and cfg.seed == 5
    with pytest.raises(ConfigError, match="unknown model 'lstmm'"):
        model_config(tiny_cfg, "lstmm", 0)


def test_walkforward_result_does_not_depend_on_workers(tiny_cfg, tmp_path):
    from stockformer.train.run import train_run

    cfg = tiny_cfg.model_copy(deep=True)
    cfg.model.name = "mlp"
    cfg.split.scheme = "rolling"
    cfg.split.rolling.train, cfg.split.rolling.val, cfg.split.rolling.test = 150, 40, 40
    cfg.split.rolling.step = 40
    one = train_run(cfg, run_dir=tmp_path / "w1", walkforward=True, workers=1)
    two = train_run(cfg, run_dir=tmp_path / "w2", walkforward=True, workers=2)
    p1, p2 = (pl.read_parquet(d / "predictions.parquet") for d in (one, two))
    assert p1.equals(p2)
    m = json.loads((one / "metrics.json").read_text())
    assert len(m["windows"]) >= 2
    starts = [w["test_start"] for w in m["windows"]]
    assert starts == sorted(starts)
    # consecutive windows' test periods do not overlap, and their predictions are all there
    for a, b in zip(m["windows"], m["windows"][1:], strict=False):
        assert a["test_end"] < b["test_start"]
    assert str(p1["date"].min()) == m["windows"][0]["test_start"]
    assert str(p1["date"].max()) == m["windows"][-1]["test_end"]


def test_compare_cli_rejects_unknown_model_in_one_line(tiny_cfg, tmp_path, capsys):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(tiny_cfg.to_yaml())
    code = main(["compare", "--config", str(cfg_file), "--models", "nope", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "unknown model 'nope'" in err[0]


def test_walkforward_cli_writes_one_backtest_and_window_table(tiny_cfg, tmp_path, capsys):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(tiny_cfg.to_yaml())
    out = tmp_path / "wf"
    code = main(["walkforward", "--config", str(cfg_file), "--run-dir", str(out),
                 "--set", "model.name=momentum", "--set", "split.rolling.train=150",
                 "--set", "split.rolling.val=40", "--set", "split.rolling.test=40",
                 "--set", "split.rolling.step=40"])
    assert code == 0, capsys.readouterr().err
    table = pl.read_csv(out / "backtest" / "windows.csv")
    m = json.loads((out / "metrics.json").read_text())
    assert table.height == len(m["windows"]) >= 2
    assert table["rank_ic"].to_list() == pytest.approx([w["test"]["rank_ic"] for w in m["windows"]])
    assert table["majority_rate"].to_list() == pytest.approx([w["test"]["majority_rate"] for w in m["windows"]])
    assert "(always " in capsys.readouterr().out  # the summary shows accuracy beside the majority
    eq = pl.read_parquet(out / "backtest" / "equity.parquet")
    total = (1 + pl.Series(table["total_return"])).product() - 1
    # the windows tile the out-of-sample backtest: their returns compound to the whole
    assert total == pytest.approx(eq["strategy"][-1] / eq["strategy"][0] - 1, rel=1e-9)
