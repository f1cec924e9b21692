"""Streamlit strategy dashboard: run browser, performance, signal quality, holdings,
a per-stock drilldown, latest picks and backtest re-runs. `app.py` at the repo root calls `main()`."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    from stockformer.dashboard.entry import main as _main  # lazy: streamlit

    _main(argv)
