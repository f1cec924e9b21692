"""Tables as the pages hand them to st.dataframe."""

from __future__ import annotations

import pandas as pd
import polars as pl


def for_display(frame: pl.DataFrame) -> pd.DataFrame:
    """`frame` for st.dataframe with its day columns kept as days: polars' to_pandas turns a
    Date into a timestamp, which the grid shows as `2024-01-02 00:00:00`."""
    out = frame.to_pandas()
    for name, dtype in frame.schema.items():
        if dtype == pl.Date:
            out[name] = pd.Series(frame[name].to_list(), index=out.index, dtype=object)
    return out
