"""The daily prediction job end to end on a tiny real run (trained once per session)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stockformer.cli import main
from stockformer.config import config_from_dict
from stockformer.data.store import save_dataset
from stockformer.data.synthetic import generate_market
from stockformer.jobs.lock import job_lock
from stockformer.jobs.manifest import read_manifest

STOCKS, DAYS = 30, 300


@pytest.fixture(scope="session")
def market() -> pl.DataFrame:
    return generate_market(stocks=STOCKS, days=DAYS, seed=3)


@pytest.fixture(scope="session")
def days(market) -> list[date]:
    return market["date"].unique().sort().to_list()


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory, market, days) -> Path:
    """A real run: trained (1 epoch, tiny model) on the data before the last 20 days."""
    from stockformer.train.run import train_run

    root = tmp_path_factory.mktemp("jobrun")
    data = save_dataset(market, root / "data")
    cfg = config_from_dict({
        "name": "jobtest", "seed": 0,
        "data": {"path": str(data), "end": days[-20].isoformat()},
        "features": {"window": 10, "cache_dir": None, "min_history": 20},
        "graph": {"embedding": "spectral", "dim": 8, "top_k": 8},
        "model": {"t1": 8, "t2": 2, "d_model": 16, "layers": 1, "heads": 2, "dropout": 0.0},
        "train": {"device": "cpu", "epochs": 1, "batch_size": 16},
        "backtest": {"topk": 5, "n_drop": 1},
        "job": {"calendar": "data"},
    })
    return train_run(cfg, run_dir=root / "run")


def dataset(tmp_path: Path, panel: pl.DataFrame, name: str = "data") -> str:
    return str(save_dataset(panel, tmp_path / name))


def file_source(tmp_path: Path, stored: pl.DataFrame) -> str:
    """A drop-folder source config whose store holds `stored`; the drop folder is empty."""
    save_dataset(stored, tmp_path / "store")
    (tmp_path / "drop").mkdir()
    src = tmp_path / "source.yaml"
    src.write_text("source: file\ndrop_dir: drop\nstore: store\n")
    return str(src)


def predict(run_dir: Path, data: str, out: Path, *extra: str) -> int:
    return main(["predict", "--run", str(run_dir), "--data", data, "--out", str(out), *extra])


def test_predicts_a_day_with_picks_orders_and_manifest(tmp_path, run_dir, market, days, capsys):
    out = tmp_path / "pred"
    data = dataset(tmp_path, market)
    d1, d2 = days[-3], days[-2]
    assert predict(run_dir, data, out, "--date", d1.isoformat()) == 0
    assert predict(run_dir, data, out, "--date", d2.isoformat()) == 0
    t1 = pl.read_parquet(out / f"{d1}.parquet")
    t2 = pl.read_parquet(out / f"{d2}.parquet")
    assert t2.columns == ["date", "rank", "symbol", "score", "pred_return", "prob_up",
                          "target_weight", "order", "weight_change"]
    ranked = t2.filter(pl.col("rank").is_not_null())
    assert ranked["rank"].to_list() == list(range(1, ranked.height + 1))
    assert ranked["score"].is_sorted(descending=True)
    assert ranked["prob_up"].is_between(0, 1).all()
    # five picks at 1/5; TopK-Dropout turns at most n_drop = 1 name over per day
    assert (t2["target_weight"] > 0).sum() == 5 and t2["target_weight"].sum() == pytest.approx(1)
    assert (t2["order"] == "buy").sum() <= 1 and (t2["order"] == "sell").sum() <= 1
    assert set(t1.filter(pl.col("target_weight") > 0)["symbol"]) - \
        set(t2.filter(pl.col("target_weight") > 0)["symbol"]) == \
        set(t2.filter(pl.col("order") == "sell")["symbol"])
    assert pl.read_csv(out / f"{d2}.csv").height == t2.height
    m = read_manifest(out)
    assert m["status"].to_list() == ["success", "success"]
    assert m["model_hash"][0] == hashlib.sha256((run_dir / "model.pt").read_bytes()).hexdigest()
    assert m["data_cutoff"].to_list() == [d1, d2] and m["rows"][1] == t2.height
    assert "picks" in capsys.readouterr().out


def test_non_trading_day_does_nothing(tmp_path, run_dir, market, days, capsys):
    out = tmp_path / "pred"
    data = dataset(tmp_path, market)
    saturday = next(d for d in (days[-10] + timedelta(i) for i in range(7)) if d.weekday() == 5)
    assert predict(run_dir, data, out, "--date", saturday.isoformat()) == 0
    assert "not a trading day" in capsys.readouterr().out
    # an exchange holiday (Christmas 2016 observed on Monday 26th) even though data has the day
    assert predict(run_dir, data, out, "--date", "2016-12-26", "--calendar", "XNYS") == 0
    assert "not a trading day on XNYS" in capsys.readouterr().out
    assert not list(out.glob("????-??-??.parquet"))  # no predictions file
    m = read_manifest(out)  # every attempt is recorded, a no-op included
    assert m["status"].to_list() == ["holiday", "holiday"]
    assert m["date"].to_list() == [saturday, date(2016, 12, 26)]


def test_rerun_is_idempotent_unless_forced(tmp_path, run_dir, market, days, capsys):
    out = tmp_path / "pred"
    data = dataset(tmp_path, market)
    day = days[-1].isoformat()
    assert predict(run_dir, data, out, "--date", day) == 0
    target = out / f"{day}.parquet"
    before, stat = target.read_bytes(), target.stat()
    assert predict(run_dir, data, out, "--date", day) == 0
    assert "nothing rewritten" in capsys.readouterr().out
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert read_manifest(out)["status"].to_list() == ["success", "exists"]  # the no-op too
    assert predict(run_dir, data, out, "--date", day, "--force") == 0
    assert target.stat().st_ino != stat.st_ino  # a new file was renamed into place
    assert target.read_bytes() == before  # same inputs: same bytes
    assert read_manifest(out)["status"].to_list() == ["success", "exists", "success"]


def test_crash_before_rename_leaves_previous_output(tmp_path, run_dir, market, days, monkeypatch):
    out = tmp_path / "pred"
    data = dataset(tmp_path, market)
    day = days[-1].isoformat()
    assert predict(run_dir, data, out, "--date", day) == 0
    target = out / f"{day}.parquet"
    before = target.read_bytes()
    real = os.replace

    def killed(src, dst):  # the process "dies" between writing the temp file and renaming
        if Path(dst) == target:
            raise OSError("killed before rename")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", killed)
    assert predict(run_dir, data, out, "--date", day, "--force") != 0
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    m = read_manifest(out)
    assert m["status"].to_list() == ["success", "failed"] and "killed" in m["message"][1]


def test_second_concurrent_run_is_refused(tmp_path, run_dir, market, days, capsys):
    out = tmp_path / "pred"
    data = dataset(tmp_path, market)
    with job_lock(out / ".lock"):
        code = predict(run_dir, data, out, "--date", days[-1].isoformat())
    assert code == 3
    assert "another prediction job is running" in capsys.readouterr().err
    assert not list(out.glob("*.parquet")) and read_manifest(out).height == 0


def test_data_source_failure_is_one_line_logged_and_recorded(tmp_path, run_dir, days, capsys):
    out = tmp_path / "pred"
    src = tmp_path / "source.yaml"
    src.write_text("source: file\ndrop_dir: missing_drop\nstore: store\n")
    assert predict(run_dir, str(src), out, "--date", days[-1].isoformat()) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "drop folder not found" in err
    m = read_manifest(out)
    assert m["status"].to_list() == ["failed"] and "SourceError" in m["message"][0]
    log = (out / "job.log").read_text()
    assert "Traceback" in log and "drop folder not found" in log


def test_file_drop_is_an_incremental_source(tmp_path, run_dir, market, days, capsys):
    """The store holds data up to d0; new days arrive as files in the drop folder."""
    d0, d1, d2 = days[-3], days[-2], days[-1]
    src, drop = file_source(tmp_path, market.filter(pl.col("date") <= d0)), tmp_path / "drop"
    out = tmp_path / "pred"
    # the day's file has not arrived yet: a failure, not a silent stale prediction
    assert predict(run_dir, src, out, "--date", d1.isoformat()) == 2
    assert "has not delivered" in capsys.readouterr().err
    # a long file with d1 (plus an already stored day, ignored) lands in the drop folder
    market.filter(pl.col("date").is_in([d0, d1])).write_csv(drop / f"{d1}.csv")
    assert predict(run_dir, src, out, "--date", d1.isoformat()) == 0
    stored = pl.read_parquet(tmp_path / "store" / "panel.parquet")
    assert stored["date"].max() == d1 and stored.height == market.filter(pl.col("date") <= d1).height
    market.filter(pl.col("date") == d2).write_parquet(drop / f"{d2}.parquet")
    assert predict(run_dir, src, out, "--date", d2.isoformat()) == 0
    assert pl.read_parquet(tmp_path / "store" / "panel.parquet")["date"].max() == d2
    # a bad file in the drop (high < low) fails validation with the file named
    bad = market.filter(pl.col("date") == d2).with_columns(
        pl.col("date").dt.offset_by("1d"), (pl.col("high") * 2).alias("low"))
    bad.write_csv(drop / "zz_bad.csv")
    assert predict(run_dir, src, out, "--date", (d2 + timedelta(1)).isoformat()) == 2
    assert "zz_bad.csv" in capsys.readouterr().err
    assert read_manifest(out)["status"].to_list() == ["failed", "success", "success", "failed"]


def test_partial_delivery_does_not_block_the_day(tmp_path, run_dir, market, days, capsys):
    """10 of 30 stocks arrive for d1: the job fails without storing them; the complete file
    for d1 arrives later and the day is predicted (before: stored, then 'universe changed'
    on every rerun, --force included)."""
    d0, d1 = days[-3], days[-2]
    src, drop = file_source(tmp_path, market.filter(pl.col("date") <= d0)), tmp_path / "drop"
    out = tmp_path / "pred"
    day1 = market.filter(pl.col("date") == d1)
    day1.head(10).write_csv(drop / f"{d1}-a-partial.csv")
    assert predict(run_dir, src, out, "--date", d1.isoformat()) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{d1} is not stored" in err
    assert pl.read_parquet(tmp_path / "store" / "panel.parquet")["date"].max() == d0
    day1.write_csv(drop / f"{d1}-b-full.csv")
    assert predict(run_dir, src, out, "--date", d1.isoformat(), "--force") == 0
    stored = pl.read_parquet(tmp_path / "store" / "panel.parquet")
    assert stored.filter(pl.col("date") == d1).height == day1.height
    assert predict(run_dir, src, out, "--date", d1.isoformat()) == 0  # a no-op rerun
    assert read_manifest(out)["status"].to_list() == ["failed", "success", "exists"]


def test_a_partial_day_already_stored_is_filled_by_the_full_file(tmp_path, run_dir, market, days):
    """A store left with a partial day (by an older version) takes the day's full file."""
    d1 = days[-2]
    day1 = market.filter(pl.col("date") == d1)
    src = file_source(tmp_path, pl.concat([market.filter(pl.col("date") < d1), day1.head(10)]))
    day1.write_csv(tmp_path / "drop" / f"{d1}.csv")
    out = tmp_path / "pred"
    assert predict(run_dir, src, out, "--date", d1.isoformat()) == 0
    assert read_manifest(out)["message"][0].endswith(f"data: {day1.height - 10} new rows")
    stored = pl.read_parquet(tmp_path / "store" / "panel.parquet")
    assert stored.filter(pl.col("date") == d1).height == day1.height


@pytest.mark.parametrize("calendar", [[], ["--calendar", "XNYS"]])
def test_date_before_the_data_begins_says_so(tmp_path, run_dir, market, days, capsys,
                                             calendar):
    out = tmp_path / "pred"
    early = days[0] - timedelta(days=20)  # a weekday, a trading day on XNYS
    assert predict(run_dir, dataset(tmp_path, market), out, "--date", early.isoformat(),
                   *calendar) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {early} is before the data begins ({days[0]}): nothing to predict from"
    assert read_manifest(out)["status"].to_list() == ["failed"]


def test_past_date_reproduces_the_stored_file_byte_for_byte(tmp_path, run_dir, market, days):
    """Predict day t on the evening of t (data ends at t); later, with more data, --date t
    --force gives the same bytes; later data perturbed arbitrarily changes nothing either."""
    t = days[-6]
    out = tmp_path / "pred"
    live = dataset(tmp_path, market.filter(pl.col("date") <= t), "live")
    assert predict(run_dir, live, out, "--date", t.isoformat()) == 0
    original = (out / f"{t}.parquet").read_bytes()
    original_csv = (out / f"{t}.csv").read_bytes()
    full = dataset(tmp_path, market, "full")
    assert predict(run_dir, full, out, "--date", t.isoformat(), "--force") == 0
    assert (out / f"{t}.parquet").read_bytes() == original
    assert (out / f"{t}.csv").read_bytes() == original_csv
    # look-ahead: scramble every price after t (and add a new stock) -> identical prediction
    rng = np.random.default_rng(0)
    later = market.filter(pl.col("date") > t)
    k = pl.Series(rng.uniform(0.5, 1.5, later.height))
    later = later.with_columns([(pl.col(c) * k) for c in ("open", "high", "low", "close")])
    newcomer = later.filter(pl.col("symbol") == later["symbol"][0]).with_columns(
        pl.lit("NEW999").alias("symbol"))
    perturbed = pl.concat([market.filter(pl.col("date") <= t), later, newcomer]).sort(
        ["date", "symbol"])
    out2 = tmp_path / "pred2"
    assert predict(run_dir, dataset(tmp_path, perturbed, "perturbed"), out2,
                   "--date", t.isoformat()) == 0
    assert (out2 / f"{t}.parquet").read_bytes() == original


def test_universe_changes(tmp_path, run_dir, market, days):
    syms = json.loads((run_dir / "symbols.json").read_text())
    day = days[-1]
    gone, fresh = syms[0], "IPO001"
    today = market.filter(pl.col("date") == day)
    ipo = today.filter(pl.col("symbol") == syms[1]).with_columns(pl.lit(fresh).alias("symbol"))
    panel = pl.concat([market.filter(~((pl.col("date") == day) & (pl.col("symbol") == gone))),
                       ipo]).sort(["date", "symbol"])
    out = tmp_path / "pred"
    assert predict(run_dir, dataset(tmp_path, panel), out, "--date", day.isoformat()) == 0
    table = pl.read_parquet(out / f"{day}.parquet")
    assert fresh not in table["symbol"].to_list()
    row = table.filter(pl.col("symbol") == gone)
    assert row.height == 0 or row["target_weight"][0] == 0
    msg = read_manifest(out)["message"][0]
    assert "not in the run universe: IPO001" in msg and gone in msg
    # most of the universe gone (e.g. a feed switched symbol format): refuse to predict
    renamed = market.with_columns(
        pl.when(pl.col("date") == day).then("X" + pl.col("symbol")).otherwise(pl.col("symbol"))
        .alias("symbol"))
    assert predict(run_dir, dataset(tmp_path, renamed, "renamed"), out,
                   "--date", day.isoformat(), "--force") == 2
    assert "universe changed" in read_manifest(out)["message"][1]


def test_model_feature_mismatch_fails_clearly(tmp_path, run_dir, market, days, capsys):
    broken = tmp_path / "run"
    shutil.copytree(run_dir, broken)
    names = json.loads((broken / "feature_names.json").read_text())
    (broken / "feature_names.json").write_text(json.dumps(names[:-1]))
    out = tmp_path / "pred"
    assert predict(broken, dataset(tmp_path, market), out, "--date", days[-1].isoformat()) == 2
    assert "model/feature mismatch" in capsys.readouterr().err
    assert read_manifest(out)["status"].to_list() == ["failed"]


def test_job_matches_the_runs_own_test_predictions(tmp_path, run_dir, market):
    """Short lookback, same preprocessing/graph/weights: the job reproduces what train_run
    predicted for a test date on the full history (tiny float noise at most)."""
    stored = pl.read_parquet(run_dir / "predictions.parquet")
    day = stored["date"].max()
    out = tmp_path / "pred"
    assert predict(run_dir, dataset(tmp_path, market), out, "--date", day.isoformat()) == 0
    job = pl.read_parquet(out / f"{day}.parquet").filter(pl.col("rank").is_not_null())
    ref = stored.filter(pl.col("date") == day).join(job, on="symbol", suffix="_job")
    assert ref.height == job.height >= STOCKS - 3
    np.testing.assert_allclose(ref["pred_return_job"], ref["pred_return"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ref["score_job"], ref["score"], rtol=1e-4, atol=1e-5)
