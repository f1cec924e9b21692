"""Trading calendars: derived from the data by default, exchange calendars for the future.

`calendar` is an exchange code ("XSHG" for A-shares, "XNYS" for US; aliases "cn", "us"),
"data" (the panel's own dates, passed as `dates`), or the dates themselves.
Outside an exchange calendar's range, and past the end of the data, the data-derived
calendar is used, extended by weekdays (the best guess without a holiday list).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import lru_cache

import numpy as np
import polars as pl

from stockformer.errors import ConfigError

_ALIASES = {"cn": "XSHG", "a_share": "XSHG", "sse": "XSHG", "szse": "XSHG", "us": "XNYS",
            "nyse": "XNYS", "nasdaq": "XNYS"}

CalendarLike = str | Sequence[date] | pl.Series | np.ndarray


def data_calendar(panel: pl.DataFrame) -> list[date]:
    """The sorted trading days present in a panel."""
    return panel["date"].unique().sort().to_list()


def _as_date(day: date | datetime | str) -> date:
    if isinstance(day, datetime):
        return day.date()
    if isinstance(day, date):
        return day
    try:
        return date.fromisoformat(str(day)[:10])
    except ValueError:
        raise ConfigError(f"not a date: {day!r} (expected YYYY-MM-DD)") from None


@contextmanager
def _quiet():
    # exchange_calendars trips pandas deprecation warnings that are not ours to fix
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


@lru_cache(maxsize=8)
def _exchange(name: str):
    import exchange_calendars as xcals

    try:
        with _quiet():
            return xcals.get_calendar(name)
    except Exception:  # the library raises its own InvalidCalendarName
        raise ConfigError(
            f"unknown trading calendar {name!r} (use 'data', 'XSHG', 'XNYS' or another "
            "exchange_calendars code)"
        ) from None


def _resolve(calendar: CalendarLike, dates: Iterable[date] | None):
    """-> (exchange calendar or None, sorted data dates as datetime64[D] or None)."""
    if isinstance(calendar, str):
        data = None if dates is None else _to_days(dates)
        if calendar.lower() == "data":
            return None, data
        return _exchange(_ALIASES.get(calendar.lower(), calendar.upper())), data
    return None, _to_days(calendar)


def _to_days(dates: Iterable[date]) -> np.ndarray:
    if isinstance(dates, pl.Series):
        arr = dates.cast(pl.Date).to_numpy().astype("datetime64[D]")
    elif isinstance(dates, np.ndarray):
        arr = dates.astype("datetime64[D]")
    else:
        arr = np.array([np.datetime64(_as_date(d), "D") for d in dates], dtype="datetime64[D]")
    return np.unique(arr)


def _in_range(cal, day: date) -> bool:
    return cal.first_session.date() <= day <= cal.last_session.date()


def is_trading_day(
    day: date | datetime | str, calendar: CalendarLike = "data", dates: Iterable[date] | None = None
) -> bool:
    """Whether `day` is a trading day on `calendar` (see the module docstring)."""
    day = _as_date(day)
    cal, data = _resolve(calendar, dates)
    if cal is not None and _in_range(cal, day):
        import pandas as pd

        with _quiet():
            return bool(cal.is_session(pd.Timestamp(day)))
    d64 = np.datetime64(day, "D")
    if data is not None and data.size and data[0] <= d64 <= data[-1]:
        return bool(data[np.searchsorted(data, d64)] == d64)
    return day.weekday() < 5


def next_trading_day(
    day: date | datetime | str, calendar: CalendarLike = "data", dates: Iterable[date] | None = None
) -> date:
    """The first trading day strictly after `day`."""
    day = _as_date(day)
    cal, data = _resolve(calendar, dates)
    if cal is not None and _in_range(cal, day + timedelta(days=1)):
        import pandas as pd

        with _quiet():
            nxt = cal.date_to_session(pd.Timestamp(day + timedelta(days=1)), direction="next")
        return nxt.date()
    if data is not None and data.size:
        i = np.searchsorted(data, np.datetime64(day, "D"), side="right")
        if i < data.size:
            return data[i].astype(date)
    nxt = day + timedelta(days=1)
    while nxt.weekday() >= 5:
        nxt += timedelta(days=1)
    return nxt
