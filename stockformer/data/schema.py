"""The canonical panel: one row per (date, symbol), long format, Parquet on disk."""

from __future__ import annotations

import polars as pl

REQUIRED_COLUMNS: tuple[str, ...] = ("date", "symbol", "open", "high", "low", "close", "volume")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "vwap",
    "amount",
    "adj_factor",
    "industry",
    "market_cap",
    "is_st",
    "limit_up",
    "limit_down",
)
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
# prices that may be repaired from the close when zero or missing
REPAIRABLE_PRICES: tuple[str, ...] = ("open", "high", "low", "vwap")
# symbols name files (qlib feature folders, exports): a path separator, a control character,
# "." or ".." would let a symbol such as ../../etc/passwd reach outside the target folder.
# One pattern for polars (Rust regex) and Python's re.
UNSAFE_SYMBOL = r"[/\\\x00-\x1f\x7f]|^\.\.?$"
UNSAFE_SYMBOL_HELP = "cannot name a file (path separator, control character, '.' or '..')"

DTYPES: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "symbol": pl.Utf8(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
    "vwap": pl.Float64(),
    "amount": pl.Float64(),
    "adj_factor": pl.Float64(),
    "industry": pl.Utf8(),
    "market_cap": pl.Float64(),
    "is_st": pl.Boolean(),
    "limit_up": pl.Boolean(),
    "limit_down": pl.Boolean(),
}

# lower-cased vendor spellings -> canonical names (loaders apply these)
ALIASES: dict[str, str] = {
    "date": "date",
    "datetime": "date",
    "trade_date": "date",
    "trading_date": "date",
    "time": "date",
    "timestamp": "date",
    "symbol": "symbol",
    "ticker": "symbol",
    "code": "symbol",
    "instrument": "symbol",
    "ts_code": "symbol",
    "stock": "symbol",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adj close": "adj_close",
    "adj_close": "adj_close",
    "adjclose": "adj_close",
    "adjusted_close": "adj_close",
    "adj_factor": "adj_factor",
    "adjfactor": "adj_factor",
    "factor": "adj_factor",
    "vol": "volume",
    "volume": "volume",
    "vwap": "vwap",
    "amount": "amount",
    "turnover": "amount",
    "industry": "industry",
    "sector": "industry",
    "market_cap": "market_cap",
    "marketcap": "market_cap",
    "is_st": "is_st",
    "limit_up": "limit_up",
    "limit_down": "limit_down",
}


def canonical_name(name: str) -> str:
    """Map a vendor column name to its canonical spelling (unknown names: lower-cased)."""
    key = name.strip().lower()
    return ALIASES.get(key, ALIASES.get(key.replace(" ", "_"), key.replace(" ", "_")))
