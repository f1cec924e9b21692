"""`stockformer data ...`: synth, import, download, validate, info (thin shells over the API)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from stockformer.data.loaders import import_panel
from stockformer.data.store import load_meta, save_dataset
from stockformer.data.synthetic import save_synthetic_dataset
from stockformer.data.validate import ValidationReport
from stockformer.errors import ValidationError

data_app = typer.Typer(help="Datasets: synthesize, import, download, validate, inspect.",
                       no_args_is_help=True)
_FORMATS = ("auto", "csv", "parquet", "folder", "qlib")


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _summary(title: str, meta: dict[str, Any]) -> None:
    """One screen: size, date range and what validation repaired."""
    rep = meta.get("report") or {}
    table = Table(title=title, show_header=False)
    table.add_column("item", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("stocks", f"{meta.get('stocks', rep.get('stocks', 0)):,}")
    table.add_row("days", f"{meta.get('days', rep.get('days', 0)):,}")
    table.add_row("rows", f"{meta.get('rows', rep.get('rows_out', 0)):,}")
    table.add_row("date range", f"{meta.get('start', rep.get('start'))} .. "
                                f"{meta.get('end', rep.get('end'))}")
    repaired = rep.get("repaired") or {}
    detail = ", ".join(f"{k} {v:,}" for k, v in repaired.items())
    table.add_row("repaired cells", f"{sum(repaired.values()):,}" + (f" ({detail})" if detail else ""))
    dropped = rep.get("dropped") or {}
    table.add_row("dropped rows", ", ".join(f"{k} {v:,}" for k, v in dropped.items()) or "0")
    table.add_row("gap days", f"{rep.get('gap_days', 0):,}")
    if "zero_volume_rows" in rep:  # reports written before the count have none
        table.add_row("zero-volume rows", f"{rep['zero_volume_rows']:,}")
    if rep.get("adjustment"):
        table.add_row("adjustment", rep["adjustment"])
    for key in ("source", "path", "fingerprint"):
        if meta.get(key):
            table.add_row(key, str(meta[key]))
    _console().print(table)


def _with_hint(err: ValidationError) -> ValidationError:
    if "high < low" in str(err):
        return ValidationError(f"{err} (pass --repair-inverted to swap such high/low)")
    if "dated after today" in str(err):
        return ValidationError(f"{err} (pass --allow-future to keep them)")
    return err


def _parse_day(text: str, name: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not YYYY-MM-DD", param_hint=name) from None


@data_app.command("synth")
def synth(
    stocks: int = typer.Option(300, min=2, help="Number of stocks."),
    days: int = typer.Option(1500, min=2, help="Number of business days."),
    seed: int = typer.Option(0, help="Random seed (same seed, same market)."),
    start: str = typer.Option("2016-01-04", help="First day (YYYY-MM-DD)."),
    out: Path = typer.Option(Path("data/synth"), help="Dataset directory to write."),
) -> None:
    """Generate the embedded synthetic A-share-like market and save it as a dataset."""
    save_synthetic_dataset(out, stocks, days, seed, _parse_day(start, "--start"), progress=True)
    _summary(f"synthetic market -> {out}", load_meta(out))


@data_app.command("import")
def import_cmd(
    path: Path = typer.Argument(..., help="CSV/Parquet file, per-symbol CSV folder or qlib folder."),
    out: Path = typer.Option(..., help="Dataset directory to write."),
    format: str = typer.Option("auto", help="auto | csv | parquet | folder | qlib."),
    market: str = typer.Option("all", help="qlib instruments file (instruments/<market>.txt)."),
    repair_inverted: bool = typer.Option(False, help="Swap rows with high < low instead of failing."),
    allow_future: bool = typer.Option(False, help="Keep rows dated after today instead of failing."),
) -> None:
    """Read, adjust and validate price data; save it as a dataset (panel.parquet + meta.json)."""
    if format not in _FORMATS:
        raise typer.BadParameter(f"{format!r} is not one of {', '.join(_FORMATS)}",
                                 param_hint="--format")
    try:
        panel, report = import_panel(path, format=format, market=market,  # type: ignore[arg-type]
                                     inverted="repair" if repair_inverted else "error",
                                     allow_future=allow_future, progress=True)
    except ValidationError as err:
        raise _with_hint(err) from None
    save_dataset(panel, out, report, meta={"source": str(path)})
    _summary(f"imported {path} -> {out}", load_meta(out))


@data_app.command("download")
def download(
    symbols: str = typer.Argument(..., help="Comma-separated symbols (AAPL,MSFT or 600000.SH)."),
    out: Path = typer.Option(..., help="Dataset directory to write."),
    source: str = typer.Option("yfinance", help="yfinance (any market) | baostock (A-shares)."),
    start: str = typer.Option(..., help="First day (YYYY-MM-DD)."),
    end: str = typer.Option(..., help="Last day (YYYY-MM-DD)."),
) -> None:
    """Download daily bars (needs `pip install stockformer[data]`) and save a dataset."""
    from stockformer.data.sources import import_online  # lazy: keeps --help fast

    names = [s.strip() for s in symbols.split(",") if s.strip()]
    panel, report = import_online(source, names, _parse_day(start, "--start"),  # type: ignore[arg-type]
                                  _parse_day(end, "--end"))
    save_dataset(panel, out, report, meta={"source": source})
    _summary(f"{source} -> {out}", load_meta(out))


@data_app.command("validate")
def validate_cmd(
    path: Path = typer.Argument(..., help="A dataset directory, panel file or raw data folder."),
    format: str = typer.Option("auto", help="auto | csv | parquet | folder | qlib."),
    market: str = typer.Option("all", help="qlib instruments file."),
    repair_inverted: bool = typer.Option(False, help="Swap rows with high < low instead of failing."),
    allow_future: bool = typer.Option(False, help="Accept rows dated after today."),
) -> None:
    """Check data without writing anything; print what would be repaired."""
    target = path / "panel.parquet" if (path / "panel.parquet").is_file() else path
    try:
        _, report = import_panel(target, format=format, market=market,  # type: ignore[arg-type]
                                 inverted="repair" if repair_inverted else "error",
                                 allow_future=allow_future, progress=True)
    except ValidationError as err:
        raise _with_hint(err) from None
    _summary(f"{path}: valid", {"report": report.to_dict(), "source": report.source})


@data_app.command("info")
def info(path: Path = typer.Argument(..., help="A dataset directory.")) -> None:
    """Show a dataset's size, date range, repairs and fingerprint (from meta.json)."""
    meta = load_meta(path)
    meta.setdefault("path", str(path))
    _summary(f"dataset {path}", meta)


def report_summary(report: ValidationReport) -> None:
    """Print a validation report the way the data commands do (used by other stages)."""
    _summary(report.source, {"report": report.to_dict()})


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
