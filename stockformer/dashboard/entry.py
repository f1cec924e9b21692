"""The dashboard's entry point: sidebar (page, runs), empty state, page dispatch."""

from __future__ import annotations

import sys

import streamlit as st

from stockformer.dashboard import (
    loaders,
    page_holdings,
    page_performance,
    page_picks,
    page_rerun,
    page_runs,
    page_signal,
    page_stock,
)
from stockformer.dashboard.paths import Locations, parse_locations
from stockformer.errors import RunError
from stockformer.rundir import RunInfo, safe_run_path

PAGES = (
    "Runs", "Performance", "Signal quality", "Holdings & trades", "Stock drilldown", "Latest picks",
    "Re-run backtest",
)


def empty_state(locs: Locations) -> None:
    st.info(
        f"No runs yet under {locs.runs_root}. Create one with `make demo` "
        "(a small synthetic market, trained and backtested in a few minutes), or `stockformer "
        "train --config configs/default.yaml`. To browse another folder set STOCKFORMER_RUNS or "
        "start with `streamlit run app.py -- --runs DIR`."
    )


def _requested_run(locs: Locations, infos: list[RunInfo]) -> str | None:
    """?run=<name> deep link, checked against the runs root like any other run name."""
    name = st.query_params.get("run")
    if not name:
        return None
    try:
        safe_run_path(locs.runs_root, name)
    except RunError as err:
        st.error(f"Refused: {err}")
        return None
    if name not in {i.name for i in infos}:
        st.warning(f"Run {name!r} (from the URL) is not under {locs.runs_root}")
        return None
    return name


def select_runs(locs: Locations, infos: list[RunInfo]) -> list[RunInfo]:
    usable = [i for i in infos if i.ok]
    if not usable:
        return []
    by_name = {i.name: i for i in usable}
    default = _requested_run(locs, usable) or usable[0].name
    chosen = st.sidebar.multiselect(
        "Runs (first = main, more = compare)", list(by_name), default=[default], key="runs_selected"
    )
    return [by_name[n] for n in chosen]


def main(argv: list[str] | None = None) -> None:
    st.set_page_config(page_title="Stockformer dashboard", layout="wide")
    locs = parse_locations(sys.argv[1:] if argv is None else argv)
    st.sidebar.title("Stockformer")
    page = st.sidebar.radio("Page", PAGES, key="page")
    st.sidebar.caption(f"runs: {locs.runs_root}\n\npicks: {locs.predictions}")
    if page == "Latest picks":
        page_picks.render(locs.predictions)
        return
    infos = loaders.runs(locs.runs_root)
    if not infos:
        empty_state(locs)
        return
    selected = select_runs(locs, infos)
    if page == "Runs":
        page_runs.render(infos)
        return
    if not selected:
        broken = "; ".join(i.error or "" for i in infos)
        st.warning(f"No run to show: pick one in the sidebar. Broken runs: {broken}" if broken else "Pick a run in the sidebar.")
        return
    if page == "Performance":
        page_performance.render(selected)
    elif page == "Signal quality":
        page_signal.render(selected, locs.runs_root)
    elif page == "Holdings & trades":
        page_holdings.render(selected[0])
    elif page == "Stock drilldown":
        page_stock.render(selected[0])
    else:
        page_rerun.render(selected[0])
