"""Signal quality: daily IC / RankIC with means and t-stats, quantile returns, direction
accuracy over time, and the per-model comparison of `stockformer compare`."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from stockformer.dashboard import analytics, charts, loaders
from stockformer.dashboard.format import SIGNAL_KEYS, fmt, metrics_table
from stockformer.dashboard.tables import for_display
from stockformer.errors import StockformerError
from stockformer.rundir import RunInfo, run_warnings
from stockformer.signal.metrics import accuracy_text

COMPARISON_FILE = "comparison.csv"


def render(selected: list[RunInfo], runs_root: Path) -> None:
    st.header("Signal quality")
    run = selected[0]
    st.subheader(f"Run {run.name}")
    metrics = run.metrics or {}
    test = metrics.get("test") or {}
    for line in run_warnings(run):
        st.warning(line)
    try:
        series, quantiles = loaders.signal(run)
    except StockformerError as err:
        st.info(f"Daily series unavailable ({err}); showing the figures stored in metrics.json.")
        series, quantiles = None, test.get("quantile_returns")
    if series is not None and series.height:
        ic, ric = analytics.series_stats(series["ic"]), analytics.series_stats(series["rank_ic"])
        acc = series["accuracy"].drop_nulls()
        stats = {
            "ic": ic["mean"], "ic_tstat": ic["tstat"], "rank_ic": ric["mean"],
            "rank_ic_tstat": ric["tstat"], "accuracy": float(acc.mean()) if acc.len() else None,
        }
        st.caption(f"From predictions.parquet joined with labels realised in {run.config.data.path}")
    else:
        stats = {k: test.get(k) for k in ("ic", "ic_tstat", "rank_ic", "rank_ic_tstat", "accuracy")}
    cols = st.columns(5)
    names = ("IC mean", "IC t-stat", "RankIC mean", "RankIC t-stat", "Accuracy")
    for col, name, key in zip(cols, names, stats, strict=True):
        col.metric(name, fmt(key, stats[key]))
    if test.get("accuracy") is not None:
        st.caption(f"Test direction accuracy (metrics.json): {accuracy_text(test)}")
    if series is not None and series.height:
        st.plotly_chart(charts.ic_figure(series), key="signal_ic")
        st.plotly_chart(
            charts.line_figure(series, "accuracy", "Direction accuracy over time", stats["accuracy"]),
            key="signal_acc",
        )
    if quantiles:
        st.plotly_chart(charts.quantile_figure(list(quantiles)), key="signal_quantiles")
    st.subheader("Stored metrics (metrics.json)")
    st.table(metrics_table({s: metrics.get(s) for s in ("validation", "test")}, SIGNAL_KEYS))
    _comparisons(selected, runs_root)


def _comparisons(selected: list[RunInfo], runs_root: Path) -> None:
    """comparison.csv files of the selected runs and of the runs root itself."""
    found = [(r.name, r.path / COMPARISON_FILE) for r in selected]
    found.append(("runs root", runs_root / COMPARISON_FILE))
    # `stockformer compare` writes its own folder under the runs root: show every such table
    if runs_root.is_dir():
        for child in sorted(runs_root.iterdir(), key=lambda p: p.name, reverse=True):
            if child.is_dir() and not child.is_symlink() and (child / COMPARISON_FILE).is_file():
                found.append((child.name, child / COMPARISON_FILE))
    shown = False
    seen: set[Path] = set()
    for name, path in found:
        if not path.is_file() or path.resolve() in seen:
            continue
        seen.add(path.resolve())
        try:
            frame = loaders.table(path, ("model",))
        except StockformerError as err:
            st.error(str(err))
            continue
        if not shown:
            st.subheader("Model comparison (stockformer compare)")
            shown = True
        st.caption(f"{name}: {path.name}")
        st.dataframe(for_display(frame), hide_index=True, width="stretch")
