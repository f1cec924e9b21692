"""Read price data from files into the canonical long panel.

Supported: a long CSV / Parquet file, a folder of one-CSV-per-symbol files (symbol from the
file name), and a qlib binary data folder (read directly, without qlib).
`import_panel` = read + adjust + validate (+ no rows dated after today, unless allowed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from stockformer import io
from stockformer.data.schema import UNSAFE_SYMBOL, UNSAFE_SYMBOL_HELP, canonical_name
from stockformer.data.validate import (
    ValidationReport,
    cast_numeric,
    refuse_future_rows,
    validate,
)
from stockformer.errors import DataError, ValidationError

Format = Literal["auto", "csv", "parquet", "folder", "qlib"]
_CSV_NULLS = ["", "null", "NULL", "Null", "NaN", "nan", "NA", "N/A", "None", "-"]
# qlib field names <-> panel columns
_QLIB_FIELDS = {"factor": "adj_factor"}
_QLIB_WRITE = ("open", "high", "low", "close", "volume", "vwap", "amount", "adj_factor", "market_cap")


def normalize_columns(df: pl.DataFrame, source: str) -> pl.DataFrame:
    """Rename vendor column names (any case, common aliases) to canonical names."""
    mapping: dict[str, str] = {}
    seen: dict[str, str] = {}
    for col in df.columns:
        name = canonical_name(col)
        if name in seen:
            raise ValidationError(
                f"{source}: columns {seen[name]!r} and {col!r} both mean {name!r} (0 rows)"
            )
        seen[name] = col
        mapping[col] = name
    return df.rename(mapping)


def detect_format(path: Path) -> Format:
    if path.is_dir():
        if (path / "calendars" / "day.txt").is_file():
            return "qlib"
        return "folder"
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return "csv"
    raise DataError(f"{path}: unknown file type (expected .csv, .csv.gz, .parquet or a folder)")


def _read_csv_text(path: Path) -> pl.DataFrame:
    # all columns as text: symbols like 000001 keep their zeros; validate parses numbers
    sep = "\t" if path.name.lower().endswith(".tsv") else ","
    try:
        return pl.read_csv(path, infer_schema=False, null_values=_CSV_NULLS, separator=sep)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise DataError(f"{path}: cannot read CSV ({str(err).splitlines()[0]})") from None


def read_table(path: str | Path) -> pl.DataFrame:
    """A long CSV or Parquet file with canonical column names."""
    path = Path(path)
    if detect_format(path) == "parquet":
        try:
            df = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as err:
            raise DataError(f"{path}: cannot read Parquet ({str(err).splitlines()[0]})") from None
    else:
        df = _read_csv_text(path)
    return normalize_columns(df, str(path))


def _symbol_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.name.lower().endswith((".csv", ".csv.gz")))
    if not files:
        raise DataError(f"{folder}: no .csv files in this folder")
    return files


def _progress(items: list, enabled: bool, desc: str) -> Iterable:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="file", leave=False)


def read_symbol_folder(folder: str | Path, *, progress: bool = False) -> pl.DataFrame:
    """One CSV per symbol (e.g. AAPL.csv with Date,Open,...,Adj Close,Volume)."""
    folder = Path(folder)
    frames = []
    for f in _progress(_symbol_files(folder), progress, "reading"):
        symbol = f.name[: -len(".csv.gz")] if f.name.lower().endswith(".gz") else f.stem
        df = normalize_columns(_read_csv_text(f), str(f))
        frames.append(df.drop("symbol", strict=False).with_columns(pl.lit(symbol).alias("symbol")))
    return pl.concat(frames, how="diagonal")


def _qlib_calendar(folder: Path) -> np.ndarray:
    lines = (folder / "calendars" / "day.txt").read_text().split()
    try:
        return np.array([np.datetime64(s[:10], "D") for s in lines])
    except ValueError as err:
        raise DataError(f"{folder}/calendars/day.txt: bad date ({err})") from None


def _qlib_instruments(folder: Path, market: str) -> list[tuple[str, str, str]]:
    path = folder / "instruments" / f"{market}.txt"
    if not path.is_file():
        have = sorted(p.stem for p in (folder / "instruments").glob("*.txt"))
        raise DataError(f"{path}: no such market (available: {', '.join(have) or 'none'})")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split("\t") if "\t" in line else line.split()
        if not parts:
            continue
        if len(parts) < 3:
            raise DataError(f"{path}: line {n} is not 'CODE<tab>start<tab>end'")
        rows.append((parts[0], parts[1][:10], parts[2][:10]))
    return rows


def read_qlib_dir(
    folder: str | Path, market: str = "all", *, progress: bool = False
) -> pl.DataFrame:
    """A qlib binary folder: calendars/day.txt, instruments/<market>.txt,
    features/<code>/<field>.day.bin (float32 LE: start index, then one value per day).

    qlib prices are already adjusted; its `factor` field becomes `adj_factor`.
    """
    folder = Path(folder)
    cal = _qlib_calendar(folder)
    frames = []
    for code, start, end in _progress(_qlib_instruments(folder, market), progress, "reading"):
        fdir = folder / "features" / code.lower()
        cols: dict[str, np.ndarray] = {}
        first, last = len(cal), -1
        for f in sorted(fdir.glob("*.day.bin")):
            raw = np.fromfile(f, dtype="<f4")
            if raw.size < 1:
                continue
            s0 = int(raw[0])
            vals = raw[1:]
            if s0 < 0 or s0 + vals.size > cal.size:
                raise DataError(f"{f}: start index {s0} + {vals.size} values exceed the calendar")
            full = np.full(cal.size, np.nan, dtype=np.float32)
            full[s0 : s0 + vals.size] = vals
            cols[_QLIB_FIELDS.get(f.name[: -len(".day.bin")], f.name[: -len(".day.bin")])] = full
            first, last = min(first, s0), max(last, s0 + vals.size - 1)
        if not cols:
            continue
        lo = max(first, int(np.searchsorted(cal, np.datetime64(start, "D"))))
        hi = min(last, int(np.searchsorted(cal, np.datetime64(end, "D"), side="right")) - 1)
        if hi < lo:
            continue
        frame = {"date": cal[lo : hi + 1]} | {k: v[lo : hi + 1] for k, v in cols.items()}
        df = pl.DataFrame(frame).with_columns(
            pl.col("date").cast(pl.Date), pl.lit(code).alias("symbol")
        )
        prices = [c for c in ("open", "high", "low", "close") if c in df.columns]
        # qlib encodes "no row" as NaN in every field
        if prices:
            df = df.filter(~pl.all_horizontal([pl.col(c).is_nan() for c in prices]))
        frames.append(df)
    if not frames:
        raise DataError(f"{folder}: no instrument data for market {market!r}")
    out = pl.concat(frames, how="diagonal")
    num = [c for c in out.columns if c not in ("date", "symbol")]
    return out.select("date", "symbol", *[pl.col(c).cast(pl.Float64) for c in num])


def _check_qlib_codes(symbols: list[str], market: str) -> None:
    """Each symbol becomes a folder name (lower-cased, as qlib spells it) and the market a file
    name: refuse what would leave the target folder or make two symbols share one folder."""
    for name in symbols:
        if re.search(UNSAFE_SYMBOL, name):
            raise DataError(f"symbol {name!r} {UNSAFE_SYMBOL_HELP}: not written as a qlib folder")
    if re.search(UNSAFE_SYMBOL, market):
        raise DataError(f"market {market!r} {UNSAFE_SYMBOL_HELP}")
    seen: dict[str, str] = {}
    for name in symbols:
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise DataError(f"symbols {other!r} and {name!r} differ only in case: qlib keeps one "
                            f"lower-cased folder per code")


def write_qlib_dir(panel: pl.DataFrame, folder: str | Path, market: str = "all") -> Path:
    """Write a panel as a qlib binary folder (float32 fields; days without a row are NaN).
    Every file is written atomically; the calendar and the instrument list come last."""
    folder = Path(folder)
    _check_qlib_codes([str(s) for s in panel["symbol"].unique().sort().to_list()], market)
    cal = np.array(panel["date"].unique().sort().to_numpy(), dtype="datetime64[D]")
    fields = [c for c in _QLIB_WRITE if c in panel.columns]
    inv = {v: k for k, v in _QLIB_FIELDS.items()}
    lines = []
    for (symbol,), g in panel.sort("symbol", "date").group_by(["symbol"], maintain_order=True):
        idx = np.searchsorted(cal, g["date"].to_numpy().astype("datetime64[D]"))
        s0, s1 = int(idx[0]), int(idx[-1])
        lines.append(f"{symbol}\t{cal[s0]}\t{cal[s1]}")
        fdir = folder / "features" / str(symbol).lower()
        for c in fields:
            vals = np.full(s1 - s0 + 1, np.nan, dtype="<f4")
            vals[idx - s0] = g[c].to_numpy().astype("<f4")
            data = np.concatenate([np.array([s0], dtype="<f4"), vals])
            io.write_bytes(fdir / f"{inv.get(c, c)}.day.bin", data.tobytes())
    io.write_text(folder / "calendars" / "day.txt", "\n".join(str(d) for d in cal) + "\n")
    io.write_text(folder / "instruments" / f"{market}.txt", "\n".join(lines) + "\n")
    return folder


def read_any(
    path: str | Path, *, format: Format = "auto", market: str = "all", progress: bool = False
) -> pl.DataFrame:
    """Read a long file, a per-symbol CSV folder or a qlib folder (canonical column names)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    fmt = detect_format(path) if format == "auto" else format
    if fmt in ("csv", "parquet"):
        if path.is_dir():
            raise DataError(f"{path}: is a folder, not a {fmt} file")
        return read_table(path)
    if not path.is_dir():
        raise DataError(f"{path}: format {fmt} needs a folder")
    if fmt == "qlib":
        return read_qlib_dir(path, market, progress=progress)
    return read_symbol_folder(path, progress=progress)


def adjust_prices(df: pl.DataFrame, source: str) -> pl.DataFrame:
    """Apply split/dividend adjustment when an adjusted close or an adj_factor is present.

    factor = adj_close / close (or the given adj_factor) multiplies open/high/low/close/vwap;
    volume is divided by it; the factor is kept as `adj_factor`.
    """
    if "adj_close" in df.columns:
        df = cast_numeric(df, source, ["adj_close", "close"])
        factor = pl.col("adj_close") / pl.col("close")
        df = df.with_columns(factor.alias("adj_factor")).drop("adj_close")
    elif "adj_factor" in df.columns:
        df = cast_numeric(df, source, ["adj_factor"])
    else:
        return df
    prices = [c for c in ("open", "high", "low", "close", "vwap", "volume") if c in df.columns]
    df = cast_numeric(df, source, prices)
    f = pl.col("adj_factor")
    exprs = [(pl.col(c) * f).alias(c) for c in prices if c != "volume"]
    if "volume" in df.columns:
        exprs.append((pl.col("volume") / f).alias("volume"))
    return df.with_columns(exprs)


def adjustment_note(columns: list[str], qlib: bool = False) -> str:
    """What adjust_prices does with these columns, in words for the import report."""
    if qlib:
        return "qlib prices, already adjusted (its factor kept as adj_factor)"
    if "adj_close" in columns:
        return "adjusted by Adj Close / Close"
    if "adj_factor" in columns:
        return "adjusted by the adj_factor column"
    return "none found: prices taken as already adjusted"  # no Adj Close, no adj_factor


def import_panel(
    path: str | Path,
    *,
    format: Format = "auto",
    market: str = "all",
    inverted: Literal["error", "repair"] = "error",
    allow_future: bool = False,
    progress: bool = False,
) -> tuple[pl.DataFrame, ValidationReport]:
    """Read, adjust (unless qlib: already adjusted) and validate; rows dated after today are
    refused unless `allow_future`."""
    path = Path(path)
    fmt = detect_format(path) if format == "auto" and path.exists() else format
    df = read_any(path, format=fmt, market=market, progress=progress)
    note = adjustment_note(df.columns, qlib=fmt == "qlib")
    if fmt != "qlib":
        df = adjust_prices(df, str(path))
    panel, report = validate(df, str(path), inverted=inverted)
    if not allow_future:
        refuse_future_rows(panel, str(path))
    report.adjustment = note
    return panel, report
