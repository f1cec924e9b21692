"""Bad input never crashes with a traceback or writes partial output.

Hypothesis builds panels with random column sets, dtypes and values (NaN, inf, negative, zero,
junk text, duplicated and unsorted rows), and files in several encodings, empty or truncated.
Each input is either accepted (and then the output contract holds) or rejected with
DataError / ValidationError and a one-line message; the CLI turns a rejection into one
`error:` line, exit code 2 and no output directory.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockformer.cli import main
from stockformer.data.loaders import import_panel
from stockformer.data.schema import DTYPES, REQUIRED_COLUMNS
from stockformer.data.validate import ValidationReport, validate
from stockformer.errors import DataError, ValidationError

FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -1.0, 1.0, 10.0, 10.5, math.nan, math.inf, -math.inf, 1e300]),
)
TEXT = st.one_of(
    NUMBERS.map(repr),
    st.sampled_from(["", "null", "NaN", "abc", " 12 ", "1,5", "-", "\u00e9", "0x10", "true"]),
)
DATES = st.one_of(
    st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)),
    st.sampled_from(["2024-01-02", "20240103", "2024/01/04", "01/05/2024", "2024-13-01", "",
                     "yesterday", "2024-01-02 15:00:00"]),
    st.integers(min_value=19900101, max_value=20301231),
)
SYMBOLS = st.sampled_from(["AAA", "BBB", "000001.SZ", " CCC ", "", "\u00c4X"])


@st.composite
def column(draw, name: str, n: int) -> pl.Series:
    """One column of n values of a randomly chosen kind (type mix inside a kind is avoided:
    polars frames are typed, so a mixed column arrives as text)."""
    if name == "date":
        kind = draw(st.sampled_from(["date", "text", "int", "null"]))
        if kind == "date":
            return pl.Series(name, draw(st.lists(st.dates(date(2020, 1, 1), date(2020, 1, 10)),
                                                 min_size=n, max_size=n)), dtype=pl.Date)
        if kind == "int":
            return pl.Series(name, draw(st.lists(st.integers(20200101, 20200110) | st.integers(-2**62, 2**62),
                                                 min_size=n, max_size=n)), dtype=pl.Int64)
        if kind == "null":
            return pl.Series(name, [None] * n, dtype=pl.Null)
        vals = draw(st.lists(DATES.map(str), min_size=n, max_size=n))
        return pl.Series(name, vals, dtype=pl.Utf8)
    if name == "symbol":
        kind = draw(st.sampled_from(["text", "text", "int", "null"]))
        if kind == "int":
            return pl.Series(name, draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
        if kind == "null":
            return pl.Series(name, [None] * n, dtype=pl.Utf8)
        return pl.Series(name, draw(st.lists(SYMBOLS, min_size=n, max_size=n)), dtype=pl.Utf8)
    kind = draw(st.sampled_from(["float", "float", "int", "text", "bool", "null"]))
    if kind == "float":
        return pl.Series(name, draw(st.lists(NUMBERS | st.none(), min_size=n, max_size=n)),
                         dtype=pl.Float64)
    if kind == "int":
        return pl.Series(name, draw(st.lists(st.integers(-5, 10**6) | st.none(), min_size=n,
                                             max_size=n)), dtype=pl.Int64)
    if kind == "bool":
        return pl.Series(name, draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if kind == "null":
        return pl.Series(name, [None] * n, dtype=pl.Null)
    return pl.Series(name, draw(st.lists(TEXT | st.none(), min_size=n, max_size=n)), dtype=pl.Utf8)


OPTIONAL = ["vwap", "amount", "adj_factor", "industry", "market_cap", "is_st", "limit_up",
            "limit_down", "junk"]


@st.composite
def panels(draw) -> pl.DataFrame:
    n = draw(st.integers(0, 8))
    names = [c for c in REQUIRED_COLUMNS if draw(st.integers(0, 9)) > 0]  # usually all there
    names += draw(st.lists(st.sampled_from(OPTIONAL), unique=True, max_size=3))
    df = pl.DataFrame([draw(column(c, n)) for c in names]) if names else pl.DataFrame()
    if n and draw(st.booleans()):  # duplicated and shuffled rows
        idx = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2 * n))
        df = df[idx]
    return df


@st.composite
def good_panels(draw) -> pl.DataFrame:
    """Mostly valid panels (real dates, positive closes) with sprinkled oddities, so that the
    accepted branch and the repairs are exercised too."""
    n_sym, n_day = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    rows = [(date(2021, 3, 1 + d), f"S{s}") for d in range(n_day) for s in range(n_sym)]
    rows = draw(st.permutations(rows))
    k = len(rows)
    price = st.floats(0.5, 100.0)
    odd = st.sampled_from([0.0, math.nan, None, -0.0])
    data = {
        "date": [r[0] for r in rows], "symbol": [r[1] for r in rows],
        "close": draw(st.lists(price, min_size=k, max_size=k)),
    }
    for c in ("open", "high", "low", "vwap"):
        data[c] = draw(st.lists(price | odd, min_size=k, max_size=k))
    data["volume"] = draw(st.lists(st.floats(0, 1e6) | st.none(), min_size=k, max_size=k))
    return pl.DataFrame(data, schema_overrides={"date": pl.Date})


def one_line(err: Exception) -> str:
    msg = str(err)
    assert msg and "\n" not in msg and "Traceback" not in msg, repr(msg)
    return msg


def check_accepted(out: pl.DataFrame, report: ValidationReport) -> None:
    assert isinstance(report, ValidationReport)
    assert out.height == report.rows_out > 0
    for c in REQUIRED_COLUMNS:
        assert out.schema[c] == DTYPES[c], c
    assert out.select(pl.struct("date", "symbol").is_duplicated().any()).item() is False
    assert out.sort("date", "symbol").equals(out)
    close = out["close"].to_numpy()
    assert np.isfinite(close).all() and (close > 0).all()
    for c in ("open", "high", "low"):
        v = out[c].to_numpy()
        assert np.isfinite(v).all() and (v > 0).all(), c
    assert (out["high"] >= out["low"]).all()
    v = out["volume"].to_numpy()
    assert np.isfinite(v).all() and (v >= 0).all()


def validate_or_reject(df: pl.DataFrame) -> None:
    try:
        out, report = validate(df, "fuzz")
    except ValidationError as err:
        assert one_line(err).startswith("fuzz: ")
        return
    check_accepted(out, report)


@FUZZ
@given(panels())
def test_validate_accepts_with_report_or_rejects_in_one_line(df):
    validate_or_reject(df)


@FUZZ
@given(good_panels())
def test_validate_repairs_near_valid_panels(df):
    out, report = validate(df, "fuzz", inverted="repair")
    check_accepted(out, report)
    assert report.rows_in == df.height


ENCODINGS = ["utf-8", "latin-1", "utf-16"]


@st.composite
def files(draw, tmp: Path) -> Path:
    """A CSV in some encoding, a Parquet file (maybe truncated), or raw junk bytes."""
    kind = draw(st.sampled_from(["csv", "csv", "parquet", "truncated", "empty", "bytes"]))
    path = tmp / f"in.{'parquet' if kind in ('parquet', 'truncated') else 'csv'}"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "bytes":
        path.write_bytes(draw(st.binary(max_size=200)))
    else:
        df = draw(panels() | good_panels())
        if kind == "csv":
            text = df.write_csv() if df.width else ""
            path.write_bytes(text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace"))
        else:
            df.write_parquet(path)
            if kind == "truncated":
                raw = path.read_bytes()
                path.write_bytes(raw[: draw(st.integers(0, len(raw) - 1))])
    return path


@FUZZ
@given(data=st.data())
def test_files_are_imported_or_rejected_in_one_line(tmp_path, data):
    path = data.draw(files(tmp_path))
    try:
        out, report = import_panel(path)
    except DataError as err:  # ValidationError is a DataError
        one_line(err)
        return
    check_accepted(out, report)


BAD_FILES = {
    "empty.csv": b"",
    "utf16.csv": "date,symbol,open,high,low,close,volume\n2024-01-02,A,1,2,0.5,1,10\n"
                 .encode("utf-16"),
    "latin1.csv": "date,symbol,open,high,low,close,volume\n2024-01-02,\xc4,1,2,0.5,x\xe9,10\n"
                  .encode("latin-1"),
    "nocols.csv": b"a,b\n1,2\n",
    "dup.csv": b"date,symbol,open,high,low,close,volume\n2024-01-02,A,1,2,1,1,1\n"
               b"2024-01-02,A,1,2,1,1,1\n",
    "negative.csv": b"date,symbol,open,high,low,close,volume\n2024-01-02,A,1,2,1,-1,1\n",
    "inf.csv": b"date,symbol,open,high,low,close,volume\n2024-01-02,A,1,2,1,inf,1\n",
    "baddate.csv": b"date,symbol,open,high,low,close,volume\nsoon,A,1,2,1,1,1\n",
    "junk.bin.parquet": b"PAR1 this is not parquet",
    "unknown.xlsx": b"PK\x03\x04",
}


def _truncated_parquet(tmp: Path) -> Path:
    path = tmp / "truncated.parquet"
    pl.DataFrame({"date": [date(2024, 1, 2)], "symbol": ["A"], "open": [1.0], "high": [1.0],
                  "low": [1.0], "close": [1.0], "volume": [1.0]}).write_parquet(path)
    path.write_bytes(path.read_bytes()[:-20])
    return path


@pytest.mark.parametrize("name", [*BAD_FILES, "truncated.parquet", "missing.csv"])
def test_cli_import_rejects_in_one_line_exit_2_and_writes_nothing(tmp_path, capsys, name):
    if name == "truncated.parquet":
        src = _truncated_parquet(tmp_path)
    else:
        src = tmp_path / name
        if name in BAD_FILES:
            src.write_bytes(BAD_FILES[name])
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["data", "import", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert not out.exists()


def test_cli_import_failure_keeps_the_previous_dataset(tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text("date,symbol,open,high,low,close,volume\n2024-01-02,A,1,2,0.5,1,10\n"
                    "2024-01-03,A,1,2,0.5,1.5,10\n")
    out = tmp_path / "out"
    assert main(["data", "import", str(good), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"panel.parquet", "meta.json"}
    bad = tmp_path / "bad.csv"
    bad.write_text("date,symbol,open,high,low,close,volume\n2024-01-02,A,1,2,3,1,10\n")  # high<low
    capsys.readouterr()
    assert main(["data", "import", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "high < low" in err[0]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
