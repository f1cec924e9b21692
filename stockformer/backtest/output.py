"""write_backtest: the backtest artifacts of a run, each written atomically."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockformer.backtest.report import build_html, build_png
from stockformer.io import write_bytes, write_json, write_parquet, write_text

if TYPE_CHECKING:
    from stockformer.backtest.engine import BacktestResult


def _json_safe(obj: Any) -> Any:
    """NaN / inf become null so summary.json stays strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def write_backtest(result: BacktestResult, out_dir: str | Path, warnings: list[str] | None = None) -> Path:
    """Every artifact; `warnings` (the training run's) are shown on top of report.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(out / "equity.parquet", result.equity)
    write_parquet(out / "positions.parquet", result.positions)
    write_parquet(out / "trades.parquet", result.trades)
    write_json(out / "summary.json", _json_safe(result.summary))
    write_text(out / "report.html", build_html(result, warnings))
    write_bytes(out / "report.png", build_png(result))
    return out
