"""Online sources against recorded responses: fake client modules stand in for the packages."""

from __future__ import annotations

import sys
import types
from datetime import date

import numpy as np
import pandas as pd
import polars as pl
import pytest

from stockformer.data.sources import fetch, import_online
from stockformer.errors import SourceError

D0, D1 = date(2024, 1, 2), date(2024, 1, 5)


def _yahoo_frame(tickers: list[str]) -> pd.DataFrame:
    # the shape yfinance.download(auto_adjust=False, group_by="column") returns
    idx = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04"], name="Date")
    fields = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    cols = pd.MultiIndex.from_product([fields, tickers], names=["Price", "Ticker"])
    data = np.zeros((3, len(cols)))
    for j, (field, t) in enumerate(cols):
        base = 100.0 if t == "AAPL" else 50.0
        close = base + np.arange(3)
        data[:, j] = {"Adj Close": close * 0.5, "Close": close, "High": close + 1,
                      "Low": close - 1, "Open": close - 0.5, "Volume": [1e6, 2e6, 3e6]}[field]
    return pd.DataFrame(data, index=idx, columns=cols)


def _fake_yfinance(monkeypatch, download) -> list[dict]:
    calls: list[dict] = []
    mod = types.ModuleType("yfinance")

    def _dl(tickers, **kw):
        calls.append({"tickers": tickers, **kw})
        return download(tickers)

    mod.download = _dl
    monkeypatch.setitem(sys.modules, "yfinance", mod)
    return calls


def test_yfinance_recorded_response(monkeypatch) -> None:
    calls = _fake_yfinance(monkeypatch, _yahoo_frame)
    panel, rep = import_online("yfinance", ["AAPL", "MSFT"], D0, D1)
    assert calls[0]["auto_adjust"] is False and calls[0]["start"] == "2024-01-02"
    assert rep.stocks == 2 and rep.days == 3
    aapl = panel.filter(pl.col("symbol") == "AAPL").row(0, named=True)
    assert aapl["close"] == 50.0 and aapl["adj_factor"] == 0.5 and aapl["volume"] == 2e6


def test_yfinance_network_down(monkeypatch) -> None:
    def boom(tickers):
        raise ConnectionError("Failed to resolve 'query2.finance.yahoo.com'\nretrying")

    _fake_yfinance(monkeypatch, boom)
    with pytest.raises(SourceError) as info:
        fetch("yfinance", ["AAPL"], D0, D1)
    assert str(info.value) == (
        "yfinance: download failed (ConnectionError: Failed to resolve 'query2.finance.yahoo.com')"
    )
    _fake_yfinance(monkeypatch, lambda t: pd.DataFrame())
    with pytest.raises(SourceError, match="no data for AAPL"):
        fetch("yfinance", ["AAPL"], D0, D1)


class _ResultSet:
    fields = ["date", "code", "open", "high", "low", "close", "volume", "amount",
              "tradestatus", "isST"]

    def __init__(self, rows, error_code="0", error_msg="success"):
        self._rows, self._i = rows, -1
        self.error_code, self.error_msg = error_code, error_msg

    def next(self) -> bool:
        self._i += 1
        return self._i < len(self._rows)

    def get_row_data(self) -> list[str]:
        return self._rows[self._i]


def _fake_baostock(monkeypatch, login_code="0", query=None) -> list:
    log: list = []
    mod = types.ModuleType("baostock")
    mod.login = lambda: log.append("login") or types.SimpleNamespace(
        error_code=login_code, error_msg="network unreachable")
    mod.logout = lambda: log.append("logout")

    def q(code, fields, start_date, end_date, frequency, adjustflag):
        log.append((code, adjustflag))
        return query(code)

    mod.query_history_k_data_plus = q
    monkeypatch.setitem(sys.modules, "baostock", mod)
    return log


def test_baostock_recorded_response(monkeypatch) -> None:
    rows = [
        ["2024-01-02", "sh.600000", "6.6", "6.7", "6.5", "6.6", "100", "660", "1", "0"],
        ["2024-01-03", "sh.600000", "6.6", "6.6", "6.6", "6.6", "0", "0", "0", "0"],  # suspended
        ["2024-01-04", "sh.600000", "0", "6.8", "6.6", "6.7", "200", "1340", "1", "0"],
    ]
    log = _fake_baostock(monkeypatch, query=lambda code: _ResultSet(rows))
    panel, rep = import_online("baostock", ["600000.SH"], D0, D1)
    assert ("sh.600000", "2") in log and log[-1] == "logout"
    assert panel["symbol"].unique().to_list() == ["600000.SH"]
    assert panel.height == 2 and rep.repaired["open_from_close"] == 1
    assert panel["is_st"].to_list() == [False, False]


def test_baostock_errors(monkeypatch) -> None:
    _fake_baostock(monkeypatch, login_code="10002007")
    with pytest.raises(SourceError, match="^baostock: login failed \\(network unreachable\\)$"):
        fetch("baostock", ["600000"], D0, D1)
    log = _fake_baostock(monkeypatch, query=lambda c: _ResultSet([], "10004011", "timeout"))
    with pytest.raises(SourceError, match="query sz.000001 failed \\(timeout\\)"):
        fetch("baostock", ["000001"], D0, D1)
    assert log[-1] == "logout"


def test_missing_package_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "yfinance", None)  # import -> ImportError
    with pytest.raises(SourceError, match=r"pip install stockformer\[data\]"):
        fetch("yfinance", ["AAPL"], D0, D1)
