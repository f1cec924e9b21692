from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from stockformer.data.calendar import data_calendar, is_trading_day, next_trading_day
from stockformer.errors import ConfigError


def test_data_calendar(synth_panel: pl.DataFrame) -> None:
    days = data_calendar(synth_panel)
    assert days[0] == date(2016, 1, 4) and len(days) == 400
    assert is_trading_day(days[5], "data", dates=days)
    assert next_trading_day(days[5], days) == days[6]
    assert next_trading_day("2016-01-08", "data", dates=days) == date(2016, 1, 11)


def test_data_calendar_gaps_and_fallback() -> None:
    days = [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 5)]
    assert not is_trading_day(date(2024, 1, 4), days)  # inside the data: the data decides
    assert next_trading_day(date(2024, 1, 3), days) == date(2024, 1, 5)
    # past the data: weekdays
    assert next_trading_day(date(2024, 1, 5), days) == date(2024, 1, 8)
    assert is_trading_day(date(2024, 1, 9), days)
    assert not is_trading_day(date(2024, 1, 13), days)


def test_exchange_calendars_holidays() -> None:
    # Chinese National Day week and US Independence Day
    assert not is_trading_day(date(2024, 10, 1), "XSHG")
    assert next_trading_day(date(2024, 9, 30), "cn") == date(2024, 10, 8)
    assert not is_trading_day("2024-07-04", "XNYS")
    assert next_trading_day(date(2024, 7, 3), "us") == date(2024, 7, 5)
    assert is_trading_day(date(2024, 7, 5), "XNYS")


def test_exchange_out_of_range_falls_back_to_data() -> None:
    days = [date(1990, 1, 2), date(1990, 1, 4)]
    assert not is_trading_day(date(1990, 1, 3), "XSHG", dates=days)
    assert next_trading_day(date(1990, 1, 2), "XSHG", dates=days) == date(1990, 1, 4)


def test_bad_inputs() -> None:
    with pytest.raises(ConfigError, match="unknown trading calendar"):
        is_trading_day(date(2024, 1, 2), "NOPE")
    with pytest.raises(ConfigError, match="not a date"):
        next_trading_day("yesterday", "data")
