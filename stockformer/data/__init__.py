"""stockformer.data: the canonical panel (schema, validation, storage), loaders, the synthetic
market and trading calendars. See docs/ARCHITECTURE.md for the contracts."""

from stockformer.data.calendar import data_calendar, is_trading_day, next_trading_day
from stockformer.data.loaders import import_panel, read_any, read_qlib_dir, write_qlib_dir
from stockformer.data.schema import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from stockformer.data.store import load_meta, load_panel, save_dataset
from stockformer.data.synthetic import generate_market, oracle_rank_ic, simulate_market
from stockformer.data.validate import ValidationReport, validate

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "ValidationReport",
    "data_calendar",
    "generate_market",
    "import_panel",
    "is_trading_day",
    "load_meta",
    "load_panel",
    "next_trading_day",
    "oracle_rank_ic",
    "read_any",
    "read_qlib_dir",
    "save_dataset",
    "simulate_market",
    "validate",
    "write_qlib_dir",
]
