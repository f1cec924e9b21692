"""Run browser: every run under the root with its config, data range, model and headline metrics;
a `stockformer tune` folder as its table of trials."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from stockformer.dashboard.format import SIGNAL_KEYS, metrics_table
from stockformer.dashboard.runs import headline, trials_view
from stockformer.rundir import RunInfo, run_warnings


def render(infos: list[RunInfo]) -> None:
    st.header("Runs")
    rows = [headline(i) for i in infos]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    for info in infos:
        if info.is_tune:  # a hyper-parameter search: its trials, best first
            st.info(f"Run {info.name}: {info.error}")
            if info.trials is not None:
                st.dataframe(trials_view(info.trials), hide_index=True, width="stretch")
            continue
        if not info.ok:
            # a compare folder or outside predictions is not a broken run: say what it is
            (st.error if info.is_trained else st.info)(f"Run {info.name}: {info.error}")
            continue
        for line in run_warnings(info):  # outside the expander, so it cannot be missed
            st.warning(f"Run {info.name}: {line}")
        label = f"{info.name} | {info.config.model.name}" if info.config else info.name
        with st.expander(label, expanded=False):
            for problem in info.problems:
                st.warning(problem)
            data = (info.metrics or {}).get("data") or {}
            st.markdown(
                f"**model** `{(info.metrics or {}).get('model', info.config.model.name)}` | "
                f"**data** `{data.get('path', info.config.data.path)}` "
                f"{data.get('start', '?')} .. {data.get('end', '?')} "
                f"({data.get('stocks', '?')} stocks) | **test** {data.get('test_start', '?')} .. "
                f"{data.get('test_end', '?')} | **seed** {(info.metrics or {}).get('seed', info.config.seed)}"
            )
            split = {s: (info.metrics or {}).get(s) for s in ("validation", "test")}
            st.table(metrics_table(split, SIGNAL_KEYS))
            st.code(info.config.to_yaml(), language="yaml")
