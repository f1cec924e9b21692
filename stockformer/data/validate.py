"""Validate and clean a panel: reject what cannot be trusted, repair and count what can.

Rejected (one ValidationError line): missing columns, a symbol that cannot name a file,
unparseable dates, duplicate (date, symbol), non-finite or non-positive close, negative or non-finite other prices,
high < low (as delivered), negative volume.
Repaired and counted: zero / missing open, high, low, vwap (set to the close), missing volume
(set to 0), high / low made to bracket open and close, vwap clipped into [low, high].
Dropped and counted: rows whose prices are all null (vendor "null" rows = missing days).
Counted, kept: rows with zero volume (suspended or untraded days a user should know about).
`refuse_future_rows` is the importer's check that no row is dated after today.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

import polars as pl

from stockformer.data.schema import (
    DTYPES,
    PRICE_COLUMNS,
    REPAIRABLE_PRICES,
    REQUIRED_COLUMNS,
    UNSAFE_SYMBOL,
    UNSAFE_SYMBOL_HELP,
)
from stockformer.errors import ValidationError

_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%m/%d/%Y", "%d.%m.%Y")


@dataclass
class ValidationReport:
    """What validation did to a panel; `repaired` counts cells, `dropped` counts rows."""

    source: str
    rows_in: int = 0
    rows_out: int = 0
    stocks: int = 0
    days: int = 0
    start: date | None = None
    end: date | None = None
    repaired: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    gap_days: int = 0  # (date, symbol) pairs missing inside a symbol's listed span
    sorted_input: bool = True
    zero_volume_rows: int = 0
    adjustment: str = ""  # how prices were adjusted (set by the importer)

    @property
    def repaired_cells(self) -> int:
        return int(sum(self.repaired.values()))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"] = self.start.isoformat() if self.start else None
        out["end"] = self.end.isoformat() if self.end else None
        out["repaired_cells"] = self.repaired_cells
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValidationReport:
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for key in ("start", "end"):
            if d.get(key):
                d[key] = date.fromisoformat(d[key])
        return cls(**d)


def _fail(source: str, reason: str, bad: pl.DataFrame) -> ValidationError:
    example = ""
    if bad.height:
        row = bad.row(0, named=True)
        example = f", e.g. {row.get('date')} {row.get('symbol')}"
    return ValidationError(f"{source}: {reason} ({bad.height} rows{example})")


def _parse_dates(df: pl.DataFrame, source: str) -> pl.DataFrame:
    dt = df.schema["date"]
    if dt == pl.Date:
        return df
    if isinstance(dt, pl.Datetime):
        return df.with_columns(pl.col("date").dt.date())
    if dt.is_integer():  # 20240131 style
        parsed = pl.col("date").cast(pl.Utf8).str.to_date("%Y%m%d", strict=False)
    elif dt == pl.Utf8 or dt == pl.String:
        text = pl.col("date").str.strip_chars().str.slice(0, 10)
        parsed = pl.coalesce([text.str.to_date(f, strict=False) for f in _DATE_FORMATS])
    else:
        raise ValidationError(f"{source}: date column has unsupported type {dt}")
    out = df.with_columns(parsed.alias("__date"))
    bad = out.filter(pl.col("__date").is_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise ValidationError(
            f"{source}: cannot parse date ({bad.height} rows, e.g. {row['date']!r} {row['symbol']})"
        )
    return out.with_columns(pl.col("__date").alias("date")).drop("__date")


def cast_numeric(df: pl.DataFrame, source: str, cols: list[str]) -> pl.DataFrame:
    """Cast to Float64; text that is neither a number nor empty/'null' is an error."""
    exprs = []
    for c in cols:
        if df.schema[c] == pl.Utf8:
            txt = pl.col(c).str.strip_chars()
            txt = pl.when(txt.str.to_lowercase().is_in(["", "null", "nan", "na", "none"]))
            exprs.append(txt.then(None).otherwise(pl.col(c).str.strip_chars()).alias(c))
    if exprs:
        df = df.with_columns(exprs)
    for c in cols:
        casted = pl.col(c).cast(pl.Float64, strict=False)
        bad = df.filter(pl.col(c).is_not_null() & casted.is_null())
        if bad.height:
            raise _fail(source, f"non-numeric {c}", bad)
        df = df.with_columns(casted.alias(c))
    return df


def validate(
    df: pl.DataFrame,
    source: str = "panel",
    *,
    inverted: Literal["error", "repair"] = "error",
) -> tuple[pl.DataFrame, ValidationReport]:
    """Return the cleaned panel (typed, sorted by date, symbol) and what was repaired.

    `inverted="repair"` swaps delivered high < low instead of rejecting the panel.
    """
    report = ValidationReport(source=source, rows_in=df.height)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValidationError(f"{source}: missing columns {', '.join(missing)} (0 rows)")
    if df.height == 0:
        raise ValidationError(f"{source}: the panel is empty (0 rows)")

    df = df.with_columns(pl.col("symbol").cast(pl.Utf8).str.strip_chars())
    bad = df.filter(pl.col("symbol").is_null() | (pl.col("symbol") == ""))
    if bad.height:
        raise _fail(source, "missing symbol", bad)
    bad = df.filter(pl.col("symbol").str.contains(UNSAFE_SYMBOL))
    if bad.height:
        raise _fail(source, f"symbol {bad['symbol'][0]!r} {UNSAFE_SYMBOL_HELP}", bad)
    df = _parse_dates(df, source)

    numeric = [c for c in (*PRICE_COLUMNS, "volume", "vwap", "amount", "adj_factor", "market_cap")
               if c in df.columns]
    df = cast_numeric(df, source, numeric)
    # NaN means missing for repairable fields; turn it into null so one rule handles both
    df = df.with_columns([pl.col(c).fill_nan(None) for c in numeric if c != "close"])

    # vendor "null" rows: every price missing -> a missing day, not an error
    all_null = pl.all_horizontal([pl.col(c).is_null() for c in PRICE_COLUMNS])
    n_null = df.filter(all_null).height
    if n_null:
        df = df.filter(~all_null)
        report.dropped["null_rows"] = n_null
        if df.height == 0:  # nothing left: an empty dataset would only fail later, unclearly
            raise ValidationError(f"{source}: every row has all prices missing ({n_null} rows)")

    d, s = pl.col("date"), pl.col("symbol")
    in_order = (d > d.shift(1)) | ((d == d.shift(1)) & (s > s.shift(1)))
    report.sorted_input = bool(df.select(in_order.slice(1).all()).item())
    if not report.sorted_input:
        df = df.sort("date", "symbol")
    # sorted: duplicates are neighbours (far cheaper than hashing (date, symbol) structs)
    same = (d == d.shift(1)) & (s == s.shift(1))
    dup = df.filter(same | same.shift(-1))
    if dup.height:
        raise _fail(source, "duplicate (date, symbol)", dup)
    close = pl.col("close")
    bad = df.filter(close.is_null() | ~close.is_finite() | (close <= 0))
    if bad.height:
        raise _fail(source, "non-finite or non-positive close", bad)
    for c in [c for c in REPAIRABLE_PRICES if c in df.columns]:
        bad = df.filter((pl.col(c) < 0) | pl.col(c).is_infinite())
        if bad.height:
            raise _fail(source, f"negative or infinite {c}", bad)
    vol = pl.col("volume")
    bad = df.filter((vol < 0) | vol.is_infinite())
    if bad.height:
        raise _fail(source, "negative or infinite volume", bad)

    # high < low as delivered (both present) cannot be explained by a missing value
    present = (pl.col("high") > 0) & (pl.col("low") > 0)
    inv = present & (pl.col("high") < pl.col("low"))
    bad = df.filter(inv)
    if bad.height:
        if inverted != "repair":
            raise _fail(source, "high < low", bad)
        df = df.with_columns(
            pl.when(inv).then(pl.col("low")).otherwise(pl.col("high")).alias("high"),
            pl.when(inv).then(pl.col("high")).otherwise(pl.col("low")).alias("low"),
        )
        report.repaired["high_low_swapped"] = bad.height

    # zero or missing open/high/low/vwap: take the close (the only price we trust)
    for c in [c for c in REPAIRABLE_PRICES if c in df.columns]:
        need = pl.col(c).is_null() | (pl.col(c) == 0)
        n = df.select(need.sum()).item()
        if n:
            df = df.with_columns(pl.when(need).then(close).otherwise(pl.col(c)).alias(c))
            report.repaired[f"{c}_from_close"] = int(n)
    n = df.select(vol.is_null().sum()).item()
    if n:
        df = df.with_columns(vol.fill_null(0.0))
        report.repaired["volume_missing"] = int(n)

    # make high / low bracket open and close
    hi = pl.max_horizontal("high", "open", "close")
    lo = pl.min_horizontal("low", "open", "close")
    counts = df.select((pl.col("high") != hi).sum().alias("h"), (pl.col("low") != lo).sum().alias("l"))
    if counts["h"][0]:
        report.repaired["high_raised"] = int(counts["h"][0])
    if counts["l"][0]:
        report.repaired["low_lowered"] = int(counts["l"][0])
    df = df.with_columns(hi.alias("high"), lo.alias("low"))
    if "vwap" in df.columns:
        clipped = pl.col("vwap").clip(pl.col("low"), pl.col("high"))
        n = df.select((pl.col("vwap") != clipped).sum()).item()
        if n:
            report.repaired["vwap_clipped"] = int(n)
        df = df.with_columns(clipped.alias("vwap"))

    df = _cast_optional(df, source)
    _fill_summary(df, report)
    return df, report


def refuse_future_rows(df: pl.DataFrame, source: str, today: date | None = None) -> None:
    """A row dated after today is a vendor or parsing error more often than a plan: refuse it.
    `df` is a validated panel (sorted, so the example named is the earliest such row)."""
    today = today or date.today()
    bad = df.filter(pl.col("date") > today)
    if bad.height:
        raise _fail(source, f"rows dated after today ({today})", bad)


def _cast_optional(df: pl.DataFrame, source: str) -> pl.DataFrame:
    exprs = []
    for c in ("industry",):
        if c in df.columns:
            exprs.append(pl.col(c).cast(pl.Utf8))
    for c in ("is_st", "limit_up", "limit_down"):
        if c in df.columns and df.schema[c] != pl.Boolean:
            df = _cast_bool(df, source, c)
    if exprs:
        df = df.with_columns(exprs)
    # fixed column order: required, then optional, then anything else as delivered
    known = [c for c in DTYPES if c in df.columns]
    return df.select(known + [c for c in df.columns if c not in DTYPES])


def _cast_bool(df: pl.DataFrame, source: str, c: str) -> pl.DataFrame:
    if df.schema[c].is_numeric():
        return df.with_columns((pl.col(c) != 0).alias(c))
    txt = pl.col(c).cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    val = (
        pl.when(txt.is_in(["true", "t", "1", "yes", "y", "1.0"])).then(True)
        .when(txt.is_in(["false", "f", "0", "no", "n", "0.0", ""])).then(False)
        .otherwise(None)
    )
    bad = df.filter(pl.col(c).is_not_null() & val.is_null())
    if bad.height:
        raise _fail(source, f"{c} is not boolean", bad)
    return df.with_columns(val.alias(c))


def _fill_summary(df: pl.DataFrame, report: ValidationReport) -> None:
    report.rows_out = df.height
    report.stocks = df["symbol"].n_unique()
    report.days = df["date"].n_unique()
    report.start = df["date"].min()
    report.end = df["date"].max()
    report.zero_volume_rows = int(df.select((pl.col("volume") == 0).sum()).item())
    # gaps: panel days between a symbol's first and last row that it has no row for
    day_idx = df.select(pl.col("date").rank("dense").alias("i"), "symbol")
    span = day_idx.group_by("symbol").agg(
        (pl.col("i").max() - pl.col("i").min() + 1).alias("span"), pl.len().alias("n")
    )
    report.gap_days = int(span.select((pl.col("span") - pl.col("n")).sum()).item())
