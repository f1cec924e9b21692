"""Latest picks of the daily job, with generation time, data cut-off and a stale warning."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

import streamlit as st

from stockformer.dashboard.picks import is_stale, last_trading_day, latest_picks
from stockformer.dashboard.tables import for_display
from stockformer.errors import StockformerError


def render(folder: Path, now: datetime | None = None, close_at: str = "16:30", calendar: str = "XSHG") -> None:
    st.header("Latest picks")
    now = now or datetime.now()
    at = time.fromisoformat(close_at)
    try:
        picks = latest_picks(folder)
    except StockformerError as err:
        st.error(f"Picks folder {folder}: {err}")
        return
    if picks is None:
        st.info(
            f"No picks yet in {folder}. The daily job writes them there "
            "(`stockformer job run`); point the dashboard elsewhere with "
            "STOCKFORMER_PREDICTIONS or `-- --predictions DIR`."
        )
        return
    manifest = picks.manifest or {}
    cutoff = picks.data_cutoff or picks.date
    generated = picks.generated_at
    st.markdown(
        f"**Picks of {picks.date}** | data cut-off **{cutoff}** | generated "
        f"**{generated:%Y-%m-%d %H:%M}** | run `{manifest.get('run_id', '?')}`"
        if generated
        else f"**Picks of {picks.date}** | data cut-off **{cutoff}** | generated: unknown (no manifest)"
    )
    if is_stale(picks, now, at, calendar):
        st.warning(
            f"Stale: these picks use data up to {cutoff}, older than the last trading day "
            f"{last_trading_day(now, at, calendar)}. Check the daily job."
        )
    frame = for_display(picks.frame)
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "pred_return": st.column_config.NumberColumn(format="%.4f"),
            "prob_up": st.column_config.NumberColumn(format="%.3f"),
            "target_weight": st.column_config.NumberColumn(format="%.2f"),
        },
    )
