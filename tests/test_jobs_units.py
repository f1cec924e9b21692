"""Daily job building blocks: strategy step, orders table, lock, manifest, scheduler, sources."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from stockformer.config import BacktestConfig
from stockformer.errors import ConfigError
from stockformer.jobs.lock import JobLockedError, job_lock
from stockformer.jobs.manifest import ManifestEntry, append_manifest, read_manifest
from stockformer.jobs.outputs import build_table, previous_target, write_outputs
from stockformer.jobs.scheduler import JOB_ID, build_scheduler, make_job, parse_at
from stockformer.jobs.strategy import target_weights, topk_dropout_holdings
from stockformer.jobs.update import load_source_config


def test_topk_dropout_follows_qlib_semantics():
    scores = {"A": 0.9, "B": 0.1, "C": 0.5, "D": 0.8, "E": 0.2}
    # first day: the top k
    assert topk_dropout_holdings(scores, [], topk=3, n_drop=1) == ["A", "D", "C"]
    # B is the held stock in the bottom n_drop of (held + best new): sold for D
    assert topk_dropout_holdings(scores, ["A", "B", "C"], topk=3, n_drop=1) == ["A", "D", "C"]
    # a held stock without a score today (suspended / delisted) leaves; the book refills
    assert topk_dropout_holdings(scores, ["A", "B", "X"], topk=3, n_drop=1) == ["A", "D", "C"]
    # n_drop = 0: nothing held is ever sold while it keeps a score
    assert topk_dropout_holdings(scores, ["A", "B", "E"], topk=3, n_drop=0) == ["A", "E", "B"]


def test_topk_dropout_turnover_is_bounded_by_n_drop():
    rng = np.random.default_rng(0)
    syms = [f"S{i:02d}" for i in range(30)]
    held: list[str] = []
    for _ in range(40):
        scores = dict(zip(syms, rng.normal(size=30).tolist(), strict=True))
        new = topk_dropout_holdings(scores, held, topk=5, n_drop=2)
        assert len(new) == 5 and len(set(new)) == 5
        if held:
            assert len(set(held) - set(new)) <= 2
        held = new


def test_target_weights_strategies():
    syms = ["A", "B", "C", "D"]
    s = np.array([0.4, 0.1, 0.3, -0.2])
    w = target_weights(syms, s, {}, BacktestConfig(strategy="topk", topk=2))
    np.testing.assert_allclose(w, [0.5, 0, 0.5, 0])
    w = target_weights(syms, s, {}, BacktestConfig(strategy="topk", topk=2, weighting="score"))
    assert w.sum() == pytest.approx(1.0) and w[0] > w[2] > 0 and w[1] == w[3] == 0
    w = target_weights(syms, s, {}, BacktestConfig(strategy="long_short", quantiles=2))
    np.testing.assert_allclose(w, [0.5, -0.5, 0.5, -0.5])
    w = target_weights(syms, s, {"B": 0.5, "D": 0.5},
                       BacktestConfig(strategy="topk_dropout", topk=2, n_drop=1))
    np.testing.assert_allclose(w, [0.5, 0.5, 0, 0])  # D (worst) dropped for A


def test_orders_versus_previous_target(tmp_path):
    day = date(2024, 1, 3)
    prev = {"A": 0.5, "B": 0.5, "X": 0.25}
    table = build_table(day, ["A", "B", "C"], np.array([0.1, 0.3, 0.2]), np.zeros(3),
                        np.full(3, 0.5), np.array([0.5, 0.0, 0.5]), prev)
    rows = {r["symbol"]: r for r in table.iter_rows(named=True)}
    assert [r["symbol"] for r in table.iter_rows(named=True)][:3] == ["B", "C", "A"]
    assert rows["B"]["rank"] == 1 and rows["B"]["order"] == "sell"
    assert rows["C"]["order"] == "buy" and rows["C"]["weight_change"] == 0.5
    assert rows["A"]["order"] == "hold" and rows["A"]["weight_change"] == 0.0
    assert rows["X"]["rank"] is None and rows["X"]["order"] == "sell"
    assert rows["X"]["weight_change"] == -0.25
    p1, csv = write_outputs(tmp_path, day, table)
    first = p1.read_bytes()
    write_outputs(tmp_path, day, table)
    assert p1.read_bytes() == first  # deterministic bytes
    assert pl.read_csv(csv).height == table.height
    assert previous_target(tmp_path, date(2024, 1, 4)) == (day, {"A": 0.5, "C": 0.5})
    assert previous_target(tmp_path, day) == (None, {})  # strictly before


def test_lock_is_exclusive_across_processes(tmp_path):
    lock = tmp_path / ".lock"
    with job_lock(lock):
        with pytest.raises(JobLockedError, match="another prediction job"):
            with job_lock(lock):
                pass
        code = textwrap.dedent(f"""
            from stockformer.jobs.lock import job_lock, JobLockedError
            try:
                with job_lock({str(lock)!r}):
                    raise SystemExit(0)
            except JobLockedError:
                raise SystemExit(3)
        """)
        assert subprocess.run([sys.executable, "-c", code]).returncode == 3
    with job_lock(lock):  # released: free again
        pass


def test_manifest_appends(tmp_path):
    for status in ("failed", "success"):
        append_manifest(tmp_path, ManifestEntry(
            date=date(2024, 1, 3), run_id="r", model_hash="h", data_cutoff=None, rows=3,
            wall_seconds=1.0, status=status, generated_at=datetime(2024, 1, 3, 17), message="m"))
    m = read_manifest(tmp_path)
    assert m["status"].to_list() == ["failed", "success"]
    assert m.columns == ["date", "run_id", "model_hash", "data_cutoff", "rows", "wall_seconds",
                         "status", "generated_at", "message"]


def test_scheduler_wiring_without_sleeping():
    tz = ZoneInfo("Asia/Shanghai")
    calls = []
    sched = build_scheduler(lambda: calls.append(1), "16:30", tz)
    (job,) = sched.get_jobs()
    assert job.id == JOB_ID and job.max_instances == 1
    friday = datetime(2024, 1, 5, 17, 0, tzinfo=tz)  # after Friday's run: next is Monday
    nxt = job.trigger.get_next_fire_time(None, friday)
    assert (nxt.date(), nxt.hour, nxt.minute) == (date(2024, 1, 8), 16, 30)
    monday = datetime(2024, 1, 8, 9, 0, tzinfo=tz)
    assert job.trigger.get_next_fire_time(None, monday).date() == date(2024, 1, 8)
    job.func()
    assert calls == [1]
    with pytest.raises(ConfigError):
        parse_at("25:00")


def test_scheduled_job_survives_failures(tmp_path):
    job = make_job(tmp_path / "no-run", tmp_path / "no-data", out=tmp_path / "pred",
                   calendar="data", device="cpu", tz=ZoneInfo("UTC"))
    assert job() is None  # a failed day is logged and recorded, the scheduler keeps going
    m = read_manifest(tmp_path / "pred")
    assert m["status"].to_list() == ["failed"] and "RunError" in m["message"][0]
    assert "Traceback" in (tmp_path / "pred" / "job.log").read_text()


def test_source_config(tmp_path):
    cfg = tmp_path / "src.yaml"
    cfg.write_text("source: file\ndrop_dir: drop\nstore: data/x\n")
    s = load_source_config(cfg)
    assert s.drop_dir == str(tmp_path / "drop") and s.store == str(tmp_path / "data/x")
    cfg.write_text("source: file\nstore: data/x\n")
    with pytest.raises(ConfigError, match="drop_dir"):
        load_source_config(cfg)
    cfg.write_text("source: ftp\nstore: data/x\n")
    with pytest.raises(ConfigError, match="source"):
        load_source_config(cfg)


def test_online_source_is_incremental_and_failures_surface(tmp_path, monkeypatch):
    from datetime import timedelta

    from stockformer.data import sources
    from stockformer.data.store import save_dataset
    from stockformer.data.synthetic import generate_market
    from stockformer.errors import SourceError
    from stockformer.jobs.update import update_store

    market = generate_market(stocks=4, days=40, seed=0)
    days = market["date"].unique().sort().to_list()
    save_dataset(market.filter(pl.col("date") <= days[-3]), tmp_path / "store")
    cfg = tmp_path / "src.yaml"
    syms = market["symbol"].unique().sort().to_list()
    cfg.write_text(f"source: yfinance\nsymbols: {syms}\nstore: store\n")
    calls = []

    def fake(source, symbols, start, end):
        calls.append((source, start, end))
        rows = market.filter((pl.col("date") >= start) & (pl.col("date") < end))
        return rows, None

    monkeypatch.setattr(sources, "import_online", fake)
    upd = update_store(load_source_config(cfg), days[-1])
    # only the days after the last stored one are asked for (yfinance: end exclusive)
    assert calls == [("yfinance", days[-3] + timedelta(1), days[-1] + timedelta(1))]
    assert upd.new_rows == market.filter(pl.col("date") > days[-3]).height
    assert upd.panel.height == market.height
    assert pl.read_parquet(tmp_path / "store" / "panel.parquet").height == market.height

    def down(*args):
        raise SourceError("yfinance: download failed (ConnectionError)")

    monkeypatch.setattr(sources, "import_online", down)
    with pytest.raises(SourceError, match="download failed"):
        update_store(load_source_config(cfg), days[-1] + timedelta(3))
    # up to date already: the source is not even asked
    calls.clear()
    monkeypatch.setattr(sources, "import_online", fake)
    assert update_store(load_source_config(cfg), days[-1]).new_rows == 0 and calls == []


def _drop_source(tmp_path, market, stored_through):
    """A file source whose store holds the market up to `stored_through`; its drop is empty."""
    from stockformer.data.store import save_dataset

    save_dataset(market.filter(pl.col("date") <= stored_through), tmp_path / "store")
    (tmp_path / "drop").mkdir()
    cfg = tmp_path / "src.yaml"
    cfg.write_text("source: file\ndrop_dir: drop\nstore: store\n")
    return load_source_config(cfg)


def _coverage(symbols, share=0.5):
    """A stand-in for the run's coverage check: refuse a day with under `share` of `symbols`."""
    from stockformer.jobs.daily import UniverseError

    def accept(day, present):
        if len(present & set(symbols)) < share * len(symbols):
            raise UniverseError(f"only {len(present)} stocks trade on {day}")
    return accept


def test_partial_delivery_is_staged_checked_and_not_committed(tmp_path):
    from stockformer.data.store import load_panel
    from stockformer.data.synthetic import generate_market
    from stockformer.jobs.daily import UniverseError
    from stockformer.jobs.update import update_store

    market = generate_market(stocks=12, days=40, seed=1)
    days = market["date"].unique().sort().to_list()
    syms = market["symbol"].unique().sort().to_list()
    d0, d1, d2 = days[-3:]
    scfg = _drop_source(tmp_path, market, d0)
    drop = tmp_path / "drop"
    day1 = market.filter(pl.col("date") == d1)
    day1.filter(pl.col("symbol").is_in(syms[:3])).write_csv(drop / f"{d1}-part.csv")
    with pytest.raises(UniverseError, match=f"{d1} is not stored"):
        update_store(scfg, d1, accept=_coverage(syms))
    assert load_panel(tmp_path / "store")["date"].max() == d0  # the store did not move
    # the complete file arrives (named so it sorts after the partial one): the day is taken
    day1.write_csv(drop / f"{d1}-full.csv")
    upd = update_store(scfg, d1, accept=_coverage(syms))
    stored = load_panel(tmp_path / "store")
    assert upd.new_rows == day1.height == stored.filter(pl.col("date") == d1).height
    assert stored.height == market.filter(pl.col("date") <= d1).height
    # a partial day after the predicted one stays out, silently for an earlier --date
    market.filter((pl.col("date") == d2) & pl.col("symbol").is_in(syms[:2])).write_csv(
        drop / f"{d2}.csv")
    assert update_store(scfg, d1, accept=_coverage(syms)).new_rows == 0
    assert load_panel(tmp_path / "store")["date"].max() == d1


def test_gap_free_commit_and_a_stored_partial_day_is_filled(tmp_path):
    from stockformer.data.store import load_panel, save_dataset
    from stockformer.data.synthetic import generate_market
    from stockformer.jobs.daily import UniverseError
    from stockformer.jobs.update import update_store

    market = generate_market(stocks=12, days=40, seed=2)
    days = market["date"].unique().sort().to_list()
    syms = market["symbol"].unique().sort().to_list()
    d0, d1, d2, d3 = days[-4:]
    scfg = _drop_source(tmp_path, market, d0)
    drop = tmp_path / "drop"
    # d1 complete, d2 partial, d3 complete: d1 is stored, d2 and (to stay gap-free) d3 are not
    market.filter(pl.col("date") == d1).write_csv(drop / "a.csv")
    market.filter((pl.col("date") == d2) & pl.col("symbol").is_in(syms[:4])).write_csv(
        drop / "b.csv")
    market.filter(pl.col("date") == d3).write_csv(drop / "c.csv")
    with pytest.raises(UniverseError, match=f"{d2} is not stored"):
        update_store(scfg, d3, accept=_coverage(syms))
    assert load_panel(tmp_path / "store")["date"].max() == d1
    # a store that already holds a partial day (written by an older version) is filled in
    partial = market.filter((pl.col("date") < d2) | (
        (pl.col("date") == d2) & pl.col("symbol").is_in(syms[:4])))
    save_dataset(partial, tmp_path / "store")
    market.filter(pl.col("date") == d2).write_csv(drop / "b.csv")
    upd = update_store(scfg, d3, accept=_coverage(syms))
    on = market.filter(pl.col("date") >= d2)
    assert upd.new_rows == on.height - partial.filter(pl.col("date") == d2).height
    assert load_panel(tmp_path / "store").equals(market.filter(pl.col("date") <= d3).select(
        load_panel(tmp_path / "store").columns))


def test_first_fill_keeps_history_before_later_listings(tmp_path):
    """An empty store's first fill holds years where later listings have no rows: only the
    predicted day onwards is checked, so that history is stored."""
    from stockformer.data.store import load_panel
    from stockformer.data.synthetic import generate_market
    from stockformer.jobs.update import update_store

    market = generate_market(stocks=12, days=40, seed=3)
    days = market["date"].unique().sort().to_list()
    syms = market["symbol"].unique().sort().to_list()
    # 8 of the 12 stocks list on day 20: the first 20 days cover a third of the universe
    listed = market.filter((pl.col("date") >= days[20]) | pl.col("symbol").is_in(syms[:4]))
    (tmp_path / "drop").mkdir()
    listed.write_csv(tmp_path / "drop" / "history.csv")
    cfg = tmp_path / "src.yaml"
    cfg.write_text("source: file\ndrop_dir: drop\nstore: store\n")
    upd = update_store(load_source_config(cfg), days[-1], accept=_coverage(syms))
    assert upd.new_rows == listed.height
    assert load_panel(tmp_path / "store").height == listed.height
