from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from stockformer.data.validate import ValidationReport, validate
from stockformer.errors import StockformerError, ValidationError


def _panel(**over) -> pl.DataFrame:
    base = {
        "date": ["2024-01-03", "2024-01-02", "2024-01-02", "2024-01-03"],
        "symbol": ["AAA", "AAA", "BBB", "BBB"],
        "open": [10.0, 9.9, 20.0, 20.5],
        "high": [10.5, 10.1, 20.6, 21.0],
        "low": [9.8, 9.7, 19.8, 20.1],
        "close": [10.2, 10.0, 20.4, 20.8],
        "volume": [1000, 1100, 500, 600],
    }
    base.update(over)
    return pl.DataFrame(base)


def test_clean_panel_is_typed_and_sorted() -> None:
    out, rep = validate(_panel(), "x.csv")
    assert out.schema["date"] == pl.Date and out.schema["volume"] == pl.Float64
    assert out["date"].to_list() == [date(2024, 1, 2)] * 2 + [date(2024, 1, 3)] * 2
    assert out["symbol"].to_list() == ["AAA", "BBB", "AAA", "BBB"]
    assert rep.repaired == {} and not rep.sorted_input
    assert (rep.stocks, rep.days, rep.rows_out) == (2, 2, 4)
    assert rep.start == date(2024, 1, 2) and rep.end == date(2024, 1, 3)


def test_missing_columns() -> None:
    with pytest.raises(ValidationError, match=r"^x.csv: missing columns volume"):
        validate(_panel().drop("volume"), "x.csv")


def test_duplicate_rows_name_file_rows_and_example() -> None:
    df = pl.concat([_panel(), _panel().head(1)])
    with pytest.raises(ValidationError) as info:
        validate(df, "f.parquet")
    msg = str(info.value)
    assert msg == "f.parquet: duplicate (date, symbol) (2 rows, e.g. 2024-01-03 AAA)"
    assert "\n" not in msg and isinstance(info.value, StockformerError)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), None])
def test_bad_close(bad) -> None:
    with pytest.raises(ValidationError, match="non-finite or non-positive close"):
        validate(_panel(close=[10.2, bad, 20.4, 20.8]))


def test_high_below_low_rejected_or_swapped() -> None:
    df = _panel(high=[10.5, 9.0, 20.6, 21.0], low=[9.8, 9.5, 19.8, 20.1])
    with pytest.raises(ValidationError, match=r"high < low \(1 rows, e.g. 2024-01-02 AAA\)"):
        validate(df)
    out, rep = validate(df, inverted="repair")
    assert rep.repaired["high_low_swapped"] == 1
    row = out.filter((pl.col("symbol") == "AAA") & (pl.col("date") == date(2024, 1, 2)))
    assert row["low"].item() == 9.0 and row["high"].item() == 10.0  # swapped, raised to close


def test_negative_volume() -> None:
    with pytest.raises(ValidationError, match="negative or infinite volume"):
        validate(_panel(volume=[1, -5, 3, 4]))


def test_unparseable_date() -> None:
    with pytest.raises(ValidationError, match="cannot parse date .*'2024-13-45'"):
        validate(_panel(date=["2024-01-03", "2024-13-45", "2024-01-02", "2024-01-03"]))


def test_date_formats() -> None:
    out, _ = validate(_panel(date=[20240103, 20240102, 20240102, 20240103]))
    assert out["date"].min() == date(2024, 1, 2)
    out, _ = validate(_panel(date=["2024/01/03", "2024/01/02", "2024/01/02", "2024/01/03"]))
    assert out["date"].max() == date(2024, 1, 3)


def test_zero_or_missing_prices_repaired_from_close() -> None:
    df = _panel(open=[0.0, None, 20.0, 20.5], low=[9.8, 9.7, 0.0, float("nan")])
    out, rep = validate(df)
    assert rep.repaired["open_from_close"] == 2
    assert rep.repaired["low_from_close"] == 2
    assert out.height == 4  # never dropped
    aaa2 = out.filter((pl.col("symbol") == "AAA") & (pl.col("date") == date(2024, 1, 2)))
    assert aaa2["open"].item() == 10.0


def test_high_low_made_consistent_and_counted() -> None:
    # open above high and close below low
    df = _panel(open=[10.9, 9.9, 20.0, 20.5], close=[10.2, 10.0, 19.5, 20.8])
    out, rep = validate(df)
    assert rep.repaired["high_raised"] == 1 and rep.repaired["low_lowered"] == 1
    assert out.select((pl.col("high") >= pl.max_horizontal("open", "close")).all()).item()
    assert out.select((pl.col("low") <= pl.min_horizontal("open", "close")).all()).item()


def test_vwap_repaired_and_clipped() -> None:
    df = _panel().with_columns(pl.Series("vwap", [0.0, 50.0, 20.2, None]))
    out, rep = validate(df)
    assert rep.repaired["vwap_from_close"] == 2 and rep.repaired["vwap_clipped"] == 1
    assert out.select((pl.col("vwap") <= pl.col("high")).all()).item()


def test_null_rows_dropped_and_counted() -> None:
    df = pl.concat(
        [
            _panel(),
            pl.DataFrame({"date": ["2024-01-04"], "symbol": ["AAA"], "open": [None],
                          "high": [None], "low": [None], "close": [None], "volume": [None]},
                         schema_overrides={c: pl.Float64 for c in ("open", "high", "low", "close")}
                         ).with_columns(pl.col("volume").cast(pl.Int64)),
            pl.DataFrame({"date": ["2024-01-05", "2024-01-04"], "symbol": ["AAA", "BBB"],
                          "open": [10.0] * 2, "high": [10.0] * 2, "low": [10.0] * 2,
                          "close": [10.0] * 2, "volume": [1] * 2}),
        ]
    )
    out, rep = validate(df, "PTR.csv")
    assert rep.dropped == {"null_rows": 1}
    assert out.height == 6
    assert rep.gap_days == 1  # AAA has no 2024-01-04 row inside its span


def test_text_nulls_and_non_numeric() -> None:
    df = _panel().with_columns(pl.Series("open", ["10", "null", "20", "20.5"]))
    out, rep = validate(df)
    assert rep.repaired["open_from_close"] == 1
    df = _panel().with_columns(pl.Series("open", ["10", "abc", "20", "20.5"]))
    with pytest.raises(ValidationError, match="non-numeric open"):
        validate(df)


def test_missing_volume_filled_and_counted() -> None:
    out, rep = validate(_panel(volume=[1.0, None, 3.0, 4.0]))
    assert rep.repaired["volume_missing"] == 1 and out["volume"].null_count() == 0


def test_optional_columns_typed() -> None:
    df = _panel().with_columns(pl.Series("limit_up", [0, 1, 0, 0]), pl.lit("Banks").alias("industry"))
    out, _ = validate(df)
    assert out.schema["limit_up"] == pl.Boolean and out["limit_up"].sum() == 1


def test_report_round_trips_to_dict() -> None:
    _, rep = validate(_panel(open=[0.0, 9.9, 20.0, 20.5]))
    d = rep.to_dict()
    assert d["repaired_cells"] == rep.repaired_cells == 1
    assert ValidationReport.from_dict(d) == rep


def test_text_booleans() -> None:
    df = _panel().with_columns(pl.Series("is_st", ["true", "False", None, "1"]))
    out, _ = validate(df)
    assert out["is_st"].to_list() == [False, None, True, True]
    with pytest.raises(ValidationError, match="is_st is not boolean"):
        validate(_panel().with_columns(pl.Series("is_st", ["maybe", "0", "0", "0"])))
