"""Online sources (optional extra `stockformer[data]`): Yahoo Finance via yfinance (any market)
and baostock (A-shares). Clients are imported lazily; every failure is one SourceError line.
Outputs are raw long frames with canonical column names; `import_online` validates them.
"""

from __future__ import annotations

import importlib
from datetime import date
from types import ModuleType
from typing import Literal

import polars as pl

from stockformer.data.loaders import adjust_prices, adjustment_note, normalize_columns
from stockformer.data.validate import ValidationReport, validate
from stockformer.errors import SourceError

Source = Literal["yfinance", "baostock"]
_BAOSTOCK_FIELDS = "date,code,open,high,low,close,volume,amount,tradestatus,isST"


def _client(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise SourceError(
            f"{name} is not installed: pip install stockformer[data]"
        ) from None


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def fetch_yfinance(symbols: list[str], start: date, end: date) -> pl.DataFrame:
    """Daily bars from Yahoo Finance (unadjusted OHLC + Adj Close, so we adjust ourselves)."""
    yf = _client("yfinance")
    try:
        raw = yf.download(
            symbols, start=start.isoformat(), end=end.isoformat(), interval="1d",
            auto_adjust=False, actions=False, group_by="column", progress=False, threads=True,
        )
    except Exception as err:  # network / HTTP errors come in many types
        raise SourceError(f"yfinance: download failed ({_one_line(err)})") from None
    if raw is None or len(raw) == 0:
        raise SourceError(
            f"yfinance: no data for {', '.join(symbols)} {start}..{end} (network down or bad symbols?)"
        )
    import pandas as pd

    if isinstance(raw.columns, pd.MultiIndex):  # (field, ticker) columns -> long rows
        long = raw.stack(level=1, future_stack=True).reset_index()
        long.columns = ["date", "symbol", *[str(c) for c in long.columns[2:]]]
    else:  # a single ticker with flat columns
        long = raw.reset_index()
        long.columns = ["date", *[str(c) for c in long.columns[1:]]]
        long["symbol"] = symbols[0]
    df = normalize_columns(pl.from_pandas(long), "yfinance")
    return df.filter(pl.col("close").is_not_null() | pl.col("open").is_not_null())


def _baostock_code(symbol: str) -> str:
    """600000.SH / SH600000 / sh.600000 -> sh.600000 (baostock's spelling)."""
    s = symbol.strip().lower()
    if "." in s:
        a, b = s.split(".", 1)
        return f"{a}.{b}" if a in ("sh", "sz", "bj") else f"{b}.{a}"
    if s[:2] in ("sh", "sz", "bj"):
        return f"{s[:2]}.{s[2:]}"
    return f"{'sh' if s.startswith('6') else 'sz'}.{s}"


def fetch_baostock(symbols: list[str], start: date, end: date) -> pl.DataFrame:
    """Forward-adjusted daily A-share bars (adjustflag=2); suspended days are dropped."""
    bs = _client("baostock")
    try:
        login = bs.login()
    except Exception as err:
        raise SourceError(f"baostock: login failed ({_one_line(err)})") from None
    if getattr(login, "error_code", "0") != "0":
        raise SourceError(f"baostock: login failed ({login.error_msg})")
    frames = []
    try:
        for symbol in symbols:
            code = _baostock_code(symbol)
            try:
                rs = bs.query_history_k_data_plus(
                    code, _BAOSTOCK_FIELDS, start_date=start.isoformat(),
                    end_date=end.isoformat(), frequency="d", adjustflag="2",
                )
            except Exception as err:
                raise SourceError(f"baostock: query {code} failed ({_one_line(err)})") from None
            if rs.error_code != "0":
                raise SourceError(f"baostock: query {code} failed ({rs.error_msg})")
            rows = []
            while rs.next():
                rows.append(rs.get_row_data())
            if rows:
                frames.append(pl.DataFrame(rows, schema=list(rs.fields), orient="row"))
    finally:
        try:
            bs.logout()
        except Exception:  # logging out of a dead connection must not hide the real error
            pass
    if not frames:
        raise SourceError(f"baostock: no data for {', '.join(symbols)} {start}..{end}")
    df = pl.concat(frames)
    code = pl.col("code").str.split(".")
    df = df.with_columns(
        (code.list.get(1) + "." + code.list.get(0).str.to_uppercase()).alias("symbol"),
        (pl.col("isST") == "1").alias("is_st"),
    )
    df = df.filter(pl.col("tradestatus") == "1").drop("code", "tradestatus", "isST")
    return normalize_columns(df, "baostock")


def fetch(source: Source, symbols: list[str], start: date, end: date) -> pl.DataFrame:
    if not symbols:
        raise SourceError(f"{source}: no symbols given")
    if source == "yfinance":
        return fetch_yfinance(symbols, start, end)
    if source == "baostock":
        return fetch_baostock(symbols, start, end)
    raise SourceError(f"unknown source {source!r} (yfinance or baostock)")


def import_online(
    source: Source, symbols: list[str], start: date, end: date
) -> tuple[pl.DataFrame, ValidationReport]:
    """Download, adjust (yfinance: Adj Close; baostock delivers adjusted prices) and validate."""
    df = fetch(source, symbols, start, end)
    panel, report = validate(adjust_prices(df, source), source)
    report.adjustment = adjustment_note(df.columns)
    return panel, report
