"""The dashboard through Streamlit's AppTest: every page renders on a demo-like run, on an
empty runs folder and next to a corrupt run; widgets change what is shown."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
from dashboard_fixtures import summary_of, write_broken_run, write_picks, write_run
from streamlit.testing.v1 import AppTest

from stockformer.dashboard.entry import PAGES
from stockformer.dashboard.format import fmt
from stockformer.dashboard.picks import last_trading_day

APP = str(Path(__file__).resolve().parents[1] / "app.py")
RUN_PAGES = [p for p in PAGES if p != "Latest picks"]


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("STOCKFORMER_RUNS", str(root))
    monkeypatch.setenv("STOCKFORMER_PREDICTIONS", str(tmp_path / "predictions"))
    return root


def open_page(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page != PAGES[0]:
        at.sidebar.radio(key="page").set_value(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Everything the page shows as text: markdown, alerts, tables, metrics."""
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for kind in ("error", "warning", "info") for e in getattr(at, kind)]
    parts += [t.value.to_string() for t in at.table]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


def plotly_count(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_a_demo_run(runs_root, page):
    run = write_run(runs_root, "demo")
    write_picks(runs_root.parent / "predictions", datetime.now().date())
    at = open_page(page)
    assert not at.error, [e.value for e in at.error]
    if page == "Performance":
        assert plotly_count(at) >= 4  # equity, drawdown, rolling Sharpe, monthly heatmap
        assert fmt("sharpe", summary_of(run)["sharpe"]) in texts(at)
        assert "cost preset" in texts(at) and "cn_a_share" in texts(at)
    if page == "Signal quality":
        assert plotly_count(at) == 3  # daily IC, accuracy over time, quantiles
    if page == "Holdings & trades":
        assert at.get("download_button")


@pytest.mark.parametrize("page", RUN_PAGES)
def test_empty_runs_folder_says_how_to_create_one(runs_root, page):
    at = open_page(page)
    assert "make demo" in texts(at)
    assert not at.error


def test_missing_runs_root_is_an_empty_state(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKFORMER_RUNS", str(tmp_path / "does_not_exist"))
    assert "make demo" in texts(open_page("Performance"))


@pytest.mark.parametrize("page", PAGES)
def test_corrupt_run_is_explained_and_the_rest_still_works(runs_root, page):
    write_run(runs_root, "good")
    write_broken_run(runs_root, "zz_half", "half")
    write_broken_run(runs_root, "zz_json", "json")
    at = open_page(page)
    if page == "Runs":
        errors = " ".join(e.value for e in at.error)
        assert "zz_half" in errors and "zz_json" in errors and "not valid JSON" in errors
    # broken runs are not offered for selection; the good one is shown
    assert at.sidebar.multiselect(key="runs_selected").options == ["good"] if page != "Latest picks" else True


def test_only_broken_runs_explains_why_nothing_shows(runs_root):
    write_broken_run(runs_root, "half", "half")
    at = open_page("Performance")
    assert "metrics.json: missing" in texts(at)


def test_half_written_artifact_shows_message_for_that_run_only(runs_root):
    bad = write_run(runs_root, "bad", seed=1)
    write_run(runs_root, "good", seed=2)
    (bad / "backtest" / "equity.parquet").write_bytes(b"PAR1 truncated")
    at = open_page("Performance")
    at.sidebar.multiselect(key="runs_selected").set_value(["good", "bad"]).run()
    assert not at.exception
    assert "equity.parquet: cannot be read" in " ".join(e.value for e in at.error)
    assert plotly_count(at) >= 1  # the good run's curve in the comparison


def test_selecting_another_run_changes_the_metrics(runs_root):
    a = write_run(runs_root, "alpha", seed=1)
    b = write_run(runs_root, "beta", seed=7, topk=3)
    at = open_page("Performance")
    at.sidebar.multiselect(key="runs_selected").set_value(["alpha"]).run()
    first = texts(at)
    assert fmt("sharpe", summary_of(a)["sharpe"]) in first
    at.sidebar.multiselect(key="runs_selected").set_value(["beta"]).run()
    second = texts(at)
    assert fmt("sharpe", summary_of(b)["sharpe"]) in second
    assert fmt("sharpe", summary_of(a)["sharpe"]) not in second
    at.sidebar.multiselect(key="runs_selected").set_value(["alpha", "beta"]).run()
    assert "Comparison" in [h.value for h in at.subheader]


def test_url_run_parameter_is_checked_against_the_root(runs_root):
    write_run(runs_root, "alpha", seed=1)
    write_run(runs_root, "beta", seed=2)
    at = open_page("Performance", {"run": "beta"})
    assert at.sidebar.multiselect(key="runs_selected").value == ["beta"]
    at = open_page("Performance", {"run": "../../etc"})
    assert any("Refused" in e.value and "../../etc" in e.value for e in at.error)
    assert at.sidebar.multiselect(key="runs_selected").value != ["../../etc"]


def test_holdings_day_changes_positions_and_trades_download(runs_root):
    write_run(runs_root, "demo")
    at = open_page("Holdings & trades")
    slider = at.select_slider(key="holdings_day")
    last = texts(at)
    slider.set_value(slider.options[0]).run()
    assert texts(at) != last and f"on {slider.options[0]}" in texts(at)
    at.toggle(key="trades_only_day").set_value(True).run()
    assert not at.exception


@pytest.mark.parametrize("page", ["Runs", "Performance", "Signal quality"])
def test_run_warnings_and_majority_rate_are_shown(runs_root, page):
    import json

    run = write_run(runs_root, "demo")
    at = open_page(page)  # a run written before the collapse check: no key, no warning
    assert not at.exception and not any("collapsed" in w.value for w in at.warning)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["warnings"] = ["warning: the traded score has collapsed on the test period"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    at = open_page(page)
    assert any("the traded score has collapsed" in w.value for w in at.warning)
    if page == "Signal quality":
        cls = metrics["test"]["majority_class"]
        assert "majority_rate" in texts(at) and f"(always {cls}: " in texts(at)


def test_signal_page_falls_back_to_metrics_without_panel(runs_root, tmp_path):
    run = write_run(runs_root, "demo")
    for f in (tmp_path / "data").rglob("panel.parquet"):
        f.unlink()
    at = open_page("Signal quality")
    assert "Daily series unavailable" in texts(at)
    ic = __import__("json").loads((run / "metrics.json").read_text())["test"]["ic"]
    assert any(m.value == fmt("ic", ic) for m in at.metric)
    assert plotly_count(at) == 1  # the stored quantile returns


def test_signal_page_shows_comparison_csv(runs_root):
    run = write_run(runs_root, "demo")
    (run / "comparison.csv").write_text("model,ic,rank_ic,sharpe\nstockformer,0.05,0.06,1.2\nlstm,0.02,0.03,0.4\n")
    at = open_page("Signal quality")
    frames = [d.value for d in at.dataframe]
    assert any(list(f.get("model", [])) == ["stockformer", "lstm"] for f in frames)


def test_compare_folder_is_a_comparison_not_a_broken_run(runs_root):
    write_run(runs_root, "demo")
    cmp = runs_root / "20260101-000000-small-compare"
    cmp.mkdir()
    (cmp / "config.yaml").write_text((runs_root / "demo" / "config.yaml").read_text())
    (cmp / "comparison.csv").write_text("model,seed,rank_ic\nstockformer,0,0.05\nreversal,0,0.04\n")
    at = open_page("Runs")
    assert not any(cmp.name in e.value for e in at.error)
    assert any(cmp.name in i.value and "compare" in i.value for i in at.info)
    table = at.dataframe[0].value
    assert table.loc[table["run"] == cmp.name, "status"].tolist() == ["comparison"]
    frames = [d.value for d in open_page("Signal quality").dataframe]
    assert sum(list(f.get("model", [])) == ["stockformer", "reversal"] for f in frames) == 1


def test_picks_page_stale_warning_and_fresh(runs_root, tmp_path):
    folder = tmp_path / "predictions"
    write_picks(folder, datetime(2020, 1, 6).date())
    at = open_page("Latest picks")
    assert any("Stale" in w.value for w in at.warning)
    assert "2020-01-06" in texts(at)
    fresh = last_trading_day(datetime.now())
    write_picks(folder, fresh)
    at = open_page("Latest picks")
    assert not at.warning and str(fresh) in texts(at)
    assert at.dataframe[0].value["rank"].tolist()[:2] == [1, 2]


def test_picks_page_without_output_says_so(runs_root):
    assert "No picks yet" in texts(open_page("Latest picks"))


def test_outside_predictions_folder_is_listed_as_external(runs_root):
    """runs/<stamp>-external (backtest --predictions without a run): no metrics.json, listed
    as external with where its report is, not as a broken run; not offered for selection."""
    from stockformer.backtest.runner import backtest_external

    demo = write_run(runs_root, "demo")
    theirs = runs_root.parent / "theirs.parquet"
    (demo / "predictions.parquet").rename(theirs)
    ext, _ = backtest_external(theirs, demo.parent.parent / "data" / "panel_20_160_0",
                               runs_dir=runs_root)
    write_run(runs_root, "demo")  # the demo run whole again
    at = open_page("Runs")
    assert not any(ext.name in e.value for e in at.error)
    assert any(ext.name in i.value and "report.html" in i.value for i in at.info)
    table = at.dataframe[0].value
    assert table.loc[table["run"] == ext.name, "status"].tolist() == ["external"]
    assert at.sidebar.multiselect(key="runs_selected").options == ["demo"]


def test_rerun_changes_summary_with_topk(runs_root):
    write_run(runs_root, "demo")
    at = open_page("Re-run backtest")
    assert not at.error, [e.value for e in at.error]
    before = at.table[0].value["re-run"].tolist()
    at.sidebar.number_input(key="rerun_topk").set_value(2).run()
    assert not at.exception and not at.error
    after = at.table[0].value["re-run"].tolist()
    assert after != before
    assert plotly_count(at) == 1


def test_rewritten_run_is_reread_not_served_from_cache(runs_root):
    run = write_run(runs_root, "demo", seed=1)
    at = open_page("Performance")
    old = fmt("sharpe", summary_of(run)["sharpe"])
    assert old in texts(at)
    time.sleep(0.01)  # a distinct mtime on coarse filesystems
    write_run(runs_root, "demo", seed=9)  # the same run folder, rewritten by a new backtest
    at.run()
    new = fmt("sharpe", summary_of(run)["sharpe"])
    assert new != old and new in texts(at) and old not in texts(at)
