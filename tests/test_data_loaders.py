from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stockformer.data.loaders import (
    adjust_prices,
    import_panel,
    read_any,
    read_qlib_dir,
    write_qlib_dir,
)
from stockformer.data.store import load_meta, load_panel, save_dataset
from stockformer.data.validate import validate
from stockformer.errors import DataError, ValidationError

VENDOR = """Date,Open,High,Low,Close,Adj Close,Volume
2016-06-27,10.0,10.5,9.5,10.0,5.0,1000
2016-06-28,10.2,10.8,10.0,10.4,5.2,2000
2016-06-29,null,null,null,null,null,null
2016-06-30,10.4,10.6,10.1,10.5,5.25,1500
"""


def _write_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "PTR.csv").write_text(VENDOR)
    (folder / "AAPL.csv").write_text(VENDOR.replace("null,null,null,null,null,null",
                                                    "10.4,10.5,10.3,10.4,5.2,900"))
    return folder


def test_symbol_folder_with_null_rows_and_adjustment(tmp_path: Path) -> None:
    panel, rep = import_panel(_write_folder(tmp_path))
    assert sorted(panel["symbol"].unique()) == ["AAPL", "PTR"]
    assert rep.dropped == {"null_rows": 1} and rep.gap_days == 1
    first = panel.filter(pl.col("symbol") == "PTR").row(0, named=True)
    assert first["adj_factor"] == 0.5
    assert (first["open"], first["high"], first["low"], first["close"]) == (5.0, 5.25, 4.75, 5.0)
    assert first["volume"] == 2000.0  # shares scale inversely to the price factor


def test_long_csv_aliases_case_insensitive(tmp_path: Path) -> None:
    f = tmp_path / "long.csv"
    f.write_text("Trade_Date,Ticker,OPEN,High,low,Close,Vol\n"
                 "20240102,000001,1,1.2,0.9,1.1,100\n20240102,600000,2,2.2,1.9,2.1,50\n")
    panel, _ = import_panel(f)
    assert panel["symbol"].to_list() == ["000001", "600000"]  # leading zeros kept
    assert panel["volume"].to_list() == [100.0, 50.0]


def test_ambiguous_columns_rejected(tmp_path: Path) -> None:
    f = tmp_path / "amb.csv"
    f.write_text("date,datetime,symbol,open,high,low,close,volume\n")
    with pytest.raises(ValidationError, match="both mean 'date'"):
        read_any(f)


def test_adj_factor_column_applied() -> None:
    df = pl.DataFrame({"open": [2.0], "high": [3.0], "low": [1.0], "close": [2.0],
                       "volume": [100.0], "adj_factor": [2.0]})
    out = adjust_prices(df, "x")
    assert out.row(0) == (4.0, 6.0, 2.0, 4.0, 50.0, 2.0)


def test_missing_path_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_any(tmp_path / "nope.csv")
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(DataError, match="unknown file type"):
        read_any(tmp_path / "x.xlsx")


def test_qlib_round_trip_exact(tmp_path: Path, synth_panel: pl.DataFrame) -> None:
    cols = ["date", "symbol", "open", "high", "low", "close", "volume", "vwap"]
    f32 = synth_panel.select(cols).with_columns(
        [pl.col(c).cast(pl.Float32).cast(pl.Float64) for c in cols[2:]]
    )
    write_qlib_dir(f32, tmp_path / "qlib")
    assert (tmp_path / "qlib" / "features" / "600000.sh" / "close.day.bin").is_file()
    back = read_qlib_dir(tmp_path / "qlib").sort("date", "symbol").select(cols)
    assert back.equals(f32)  # suspension gaps stay gaps, listings start on time
    panel, rep = import_panel(tmp_path / "qlib")
    assert rep.rows_out == f32.height


def test_qlib_reader_bin_layout(tmp_path: Path) -> None:
    q = tmp_path / "q"
    (q / "calendars").mkdir(parents=True)
    (q / "instruments").mkdir()
    (q / "features" / "sh600000").mkdir(parents=True)
    (q / "calendars" / "day.txt").write_text("2020-01-02\n2020-01-03\n2020-01-06\n2020-01-07\n")
    (q / "instruments" / "csi300.txt").write_text("SH600000\t2020-01-03\t2020-01-07\n")
    for field, vals in {"close": [10, 11, 12], "open": [10, 11, 12], "high": [10, 11, 12],
                        "low": [10, 11, 12], "volume": [5, 6, 7], "factor": [1, 1, 2]}.items():
        np.array([1, *vals], dtype="<f4").tofile(q / "features" / "sh600000" / f"{field}.day.bin")
    df = read_qlib_dir(q, "csi300")
    assert df["date"].cast(pl.Utf8).to_list() == ["2020-01-03", "2020-01-06", "2020-01-07"]
    assert df["close"].to_list() == [10.0, 11.0, 12.0] and df["adj_factor"].to_list()[-1] == 2.0
    with pytest.raises(DataError, match="no such market .*available: csi300"):
        read_qlib_dir(q, "all")


def test_store_round_trip_and_meta(tmp_path: Path, synth_panel: pl.DataFrame) -> None:
    clean, rep = validate(synth_panel, "synth")
    out = save_dataset(clean, tmp_path / "ds", rep, meta={"seed": 1})
    assert load_panel(out).equals(clean)
    meta = load_meta(out)
    assert meta["stocks"] == 40 and meta["days"] == 400 and meta["seed"] == 1
    assert meta["start"] == "2016-01-04" and len(meta["fingerprint"]) == 64
    assert meta["report"]["repaired_cells"] == 0
    # same content -> same fingerprint; different content -> different
    save_dataset(clean, tmp_path / "ds2", rep)
    assert load_meta(tmp_path / "ds2")["fingerprint"] == meta["fingerprint"]
    save_dataset(clean.head(100), tmp_path / "ds3", rep)
    assert load_meta(tmp_path / "ds3")["fingerprint"] != meta["fingerprint"]
    assert not list((tmp_path / "ds").glob(".*.tmp"))


def test_load_panel_from_loose_files(tmp_path: Path, synth_panel: pl.DataFrame) -> None:
    small = synth_panel.head(200)
    small.write_parquet(tmp_path / "p.parquet")
    assert load_panel(tmp_path / "p.parquet").equals(small)
    small.write_csv(tmp_path / "p.csv")
    back = load_panel(tmp_path / "p.csv")
    assert back["close"].to_list() == small["close"].to_list()
    with pytest.raises(DataError, match="no such dataset"):
        load_panel(tmp_path / "missing")


# --- real data (../shared/data); skipped when absent ---------------------------------


@pytest.mark.shared
def test_stocknet_folder_matches_long_file(shared_data: Path) -> None:
    folder, rep = import_panel(shared_data / "stocknet88" / "raw")
    long, _ = import_panel(shared_data / "stocknet88" / "prices.csv.gz")
    assert rep.stocks == 88 and rep.dropped["null_rows"] >= 3
    assert folder.equals(long)


@pytest.mark.shared
def test_nasdaq_repairs_zero_opens_and_round_trips(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "nasdaq1026" / "prices.parquet"
    with pytest.raises(ValidationError, match="high < low"):
        import_panel(src)  # one genuinely inverted row (FOXA 2013-06-25)
    panel, rep = import_panel(src, inverted="repair")
    assert 2000 <= rep.repaired["open_from_close"] <= 2600
    assert rep.stocks == 1026 and rep.rows_out == rep.rows_in
    save_dataset(panel, tmp_path / "nd", rep)
    assert load_panel(tmp_path / "nd").equals(panel)


def test_load_panel_does_not_adjust_twice(tmp_path: Path) -> None:
    panel, _ = import_panel(_write_folder(tmp_path))
    panel.write_csv(tmp_path / "adjusted.csv")  # keeps adj_factor = 0.5
    back = load_panel(tmp_path / "adjusted.csv")
    assert back["close"].to_list() == panel["close"].to_list()
