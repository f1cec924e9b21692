"""Read and check prediction tables: Parquet / CSV (date, symbol, score) or qlib's pred.pkl."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from stockformer.errors import DataError

OPTIONAL = ("pred_return", "prob_up")


def load_predictions(path: str | Path) -> pl.DataFrame:
    """Load predictions from .parquet, .csv or a qlib pred.pkl (MultiIndex datetime/instrument).

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
            frame = pl.read_csv(path, try_parse_dates=True)
        elif suffix in (".pkl", ".pickle"):
            frame = _read_qlib_pickle(path)
        else:
            raise DataError(f"{path}: unsupported predictions format (use .parquet, .csv or .pkl)")
    except DataError:
        raise
    except Exception as err:  # corrupt files surface as one line
        raise DataError(f"{path}: cannot read predictions ({type(err).__name__}: {err})") from None
    return check_predictions(frame, str(path))


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


def check_predictions(frame: pl.DataFrame, source: str = "predictions") -> pl.DataFrame:
    """Types, required columns, no duplicate (date, symbol); sorted by (date, symbol)."""
    missing = [c for c in ("date", "symbol", "score") if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}")
    try:
        cols = [
            pl.col("date").cast(pl.Date),
            pl.col("symbol").cast(pl.Utf8),
            pl.col("score").cast(pl.Float64),
        ] + [pl.col(c).cast(pl.Float64) for c in OPTIONAL if c in frame.columns]
        out = frame.select(cols)
    except Exception as err:
        raise DataError(f"{source}: column types not usable ({type(err).__name__})") from None
    nulls = out.filter(pl.col("date").is_null() | pl.col("symbol").is_null())
    if nulls.height:
        raise DataError(f"{source}: empty date or symbol ({nulls.height} rows)")
    if out.height == 0:
        raise DataError(f"{source}: no prediction rows")
    out = out.sort("date", "symbol")
    # sorted, a duplicate sits next to its twin: a shifted comparison, not a hash of every row
    twin = (pl.col("date") == pl.col("date").shift(1)) & (pl.col("symbol") == pl.col("symbol").shift(1))
    dup = out.filter(twin | twin.shift(-1))
    if dup.height:
        row = dup.row(0, named=True)
        raise DataError(
            f"{source}: duplicate (date, symbol) ({dup.height} rows, e.g. {row['date']} {row['symbol']})"
        )
    return out
