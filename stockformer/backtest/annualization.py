"""How many trading days make a year, decided once per backtest and stored with its result.

238 for China A-shares (qlib's convention), 252 for US exchanges. The backtest decides it from,
in order: the dataset's declared market (meta.json "calendar" or "market", or a baostock
source), the cost preset (cn_a_share, us), the configured trading calendar (job.calendar), and
else 238, the tool's A-share default. The summary keeps the number, so the report, the CLI,
walk-forward tables and the dashboard all read the same one instead of assuming their own.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from stockformer.data.calendar import _ALIASES
from stockformer.data.store import load_meta
from stockformer.errors import DataError

A_SHARE_DAYS = 238
US_DAYS = 252
DEFAULT_DAYS = A_SHARE_DAYS  # what runs written before the number was stored used
SHORT_PERIOD_DAYS = 183  # calendar days: a test period under six months gets a caveat

_MARKET_DAYS = {"XSHG": A_SHARE_DAYS, "XSHE": A_SHARE_DAYS, "XNYS": US_DAYS, "XNAS": US_DAYS,
                "XASE": US_DAYS, "ARCX": US_DAYS}
_PRESET_MARKET = {"cn_a_share": "XSHG", "us": "XNYS"}
_SOURCE_MARKET = {"baostock": "XSHG"}  # yfinance serves every market: it says nothing


def market_code(name: str | None) -> str | None:
    """Exchange code of a calendar or market name ('cn', 'us', 'XNYS' ...); None if unknown."""
    if not name or not isinstance(name, str):
        return None
    code = _ALIASES.get(name.lower(), name.upper())
    return code if code in _MARKET_DAYS else None


def dataset_market(meta: dict[str, Any] | None) -> str | None:
    """The market a dataset's meta.json declares (calendar / market key, or its source)."""
    meta = meta or {}
    for key in ("calendar", "market"):
        code = market_code(meta.get(key))
        if code:
            return code
    return _SOURCE_MARKET.get(str(meta.get("source", "")).lower())


def decide(
    preset: str | None = None, data_market: str | None = None, calendar: str | None = None
) -> dict[str, Any]:
    """{"days_per_year", "market", "decided_by"} from the first input that names a market."""
    for code, why in (
        (market_code(data_market), f"dataset market {data_market}"),
        (_PRESET_MARKET.get(preset or ""), f"cost preset {preset}"),
        (market_code(calendar), f"calendar {calendar}"),
    ):
        if code:
            return {"days_per_year": _MARKET_DAYS[code], "market": code, "decided_by": why}
    return {"days_per_year": DEFAULT_DAYS, "market": None, "decided_by": "default (A-share)"}


def short_period_caveat(start: date, end: date, days: int) -> str | None:
    """The warning annualised figures carry when the test period is under six months."""
    if (end - start).days >= SHORT_PERIOD_DAYS:
        return None
    return (
        f"Short test period: {days} trading days ({start} .. {end}, under six months). "
        "Annualised figures (return, volatility, Sharpe, Sortino, Calmar, information ratio, "
        "alpha) extrapolate a short sample and can mislead."
    )


def days_per_year(summary: dict[str, Any] | None) -> int:
    """The number a stored backtest summary was annualised with (238 for older runs)."""
    stored = ((summary or {}).get("annualization") or {}).get("days_per_year")
    return int(stored) if isinstance(stored, int | float) and stored > 0 else DEFAULT_DAYS


def caveat(summary: dict[str, Any] | None) -> str | None:
    """The stored short-period caveat of a backtest summary, if any."""
    note = ((summary or {}).get("annualization") or {}).get("caveat")
    return str(note) if note else None


def market_at(path) -> str | None:
    """The market declared by the dataset at `path` (None for a loose panel file or no meta)."""
    try:
        return dataset_market(load_meta(path))
    except DataError:  # no meta.json: the preset and the calendar decide
        return None
