"""Read and check prediction tables, ours or another tool's, in three layouts:
- long Parquet / CSV: date, symbol, score[, pred_return, prob_up] (common aliases such as
  datetime / instrument / ticker accepted);
- qlib's pred.pkl: a pandas DataFrame indexed by (datetime, instrument) with a `score` column;
- wide Parquet / CSV: a date column and one score column per symbol (a blank or NaN cell = no
  score).
Each ends as the predictions contract (stockformer.signal.predictions), checked there.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from stockformer.data.schema import canonical_name
from stockformer.errors import DataError
from stockformer.signal.predictions import OPTIONAL, check_predictions

# pandas writes an unnamed index (a wide table's dates) to Parquet under this name
_PANDAS_INDEX = "__index_level_0__"


def load_predictions(path: str | Path) -> pl.DataFrame:
    """Load predictions from .parquet, .csv (long or wide) or a qlib pred.pkl.

    pred.pkl is read with pandas.read_pickle, which can run code: only for files the user names.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: predictions file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif suffix == ".csv":
            frame = _read_csv(path)
        elif suffix in (".pkl", ".pickle"):
            frame = _read_qlib_pickle(path)
        else:
            raise DataError(f"{path}: unsupported predictions format (use .parquet, .csv or .pkl)")
    except DataError:
        raise
    except Exception as err:  # corrupt files surface as one line
        raise DataError(f"{path}: cannot read predictions ({type(err).__name__}: {err})") from None
    return check_predictions(long_form(frame, str(path)), str(path))


def _key_names(columns: list[str]) -> dict[str, str]:
    """Renames of vendor spellings of the two key columns (datetime, instrument, ticker...)."""
    renames: dict[str, str] = {}
    for col in columns:
        key = canonical_name(col)
        if key in ("date", "symbol") and col != key and key not in columns \
                and key not in renames.values():
            renames[col] = key
    return renames


def _read_csv(path: Path) -> pl.DataFrame:
    # symbols stay text: 000001 must not become the number 1
    header = pl.read_csv(path, n_rows=0).columns
    text = {c: pl.Utf8 for c in header if canonical_name(c) == "symbol"}
    return pl.read_csv(path, try_parse_dates=True, schema_overrides=text)


def long_form(frame: pl.DataFrame, source: str = "predictions") -> pl.DataFrame:
    """Key columns under their canonical names; a wide table (a date column, one column per
    symbol, no symbol / score column) unpivoted to date, symbol, score."""
    if _PANDAS_INDEX in frame.columns and "date" not in frame.columns:
        frame = frame.rename({_PANDAS_INDEX: "date"})
    frame = frame.rename(_key_names(frame.columns))
    if "symbol" in frame.columns or "score" in frame.columns or "date" not in frame.columns:
        return frame  # long (check_predictions names what is missing)
    symbols = [c for c in frame.columns if c != "date"]
    if not symbols:
        raise DataError(f"{source}: a date column but no symbol or score columns")
    for col in symbols:
        try:
            frame = frame.with_columns(pl.col(col).cast(pl.Float64))
        except Exception:
            raise DataError(f"{source}: wide table column {col!r} is not numeric scores") from None
    wide = frame.unpivot(index="date", on=symbols, variable_name="symbol", value_name="score")
    # pandas writes a wide table's empty cells as NaN: in this layout, both mean "no score"
    return wide.filter(pl.col("score").is_not_null() & pl.col("score").is_not_nan())


def _read_qlib_pickle(path: Path) -> pl.DataFrame:
    import pandas as pd

    obj = pd.read_pickle(path)
    if isinstance(obj, pd.Series):
        obj = obj.to_frame("score")
    if not isinstance(obj, pd.DataFrame) or obj.index.nlevels != 2:
        raise DataError(f"{path}: expected a DataFrame with a (datetime, instrument) MultiIndex")
    if "score" not in obj.columns:
        if obj.shape[1] != 1:
            raise DataError(f"{path}: no `score` column (columns: {list(obj.columns)})")
        obj = obj.rename(columns={obj.columns[0]: "score"})
    names = list(obj.index.names)
    flat = obj.reset_index()
    level0, level1 = flat.columns[0], flat.columns[1]
    # qlib writes (datetime, instrument); accept the swapped order too
    if names[0] in ("instrument", "symbol"):
        level0, level1 = level1, level0
    flat = flat.rename(columns={level0: "date", level1: "symbol"})
    keep = ["date", "symbol", "score"] + [c for c in OPTIONAL if c in flat.columns]
    flat = flat[keep]
    flat["date"] = pd.to_datetime(flat["date"]).dt.date
    flat["symbol"] = flat["symbol"].astype(str)
    return pl.from_pandas(flat)
