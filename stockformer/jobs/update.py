"""--data for the daily job: a dataset directory (used as is) or a source config YAML whose
store is updated before predicting: stage the rows the store lacks, check each new day (the
job's coverage check), then commit the days that pass; a refused day stays out of the store
and is staged again on the next run, so a later, fuller delivery of it is taken.

Source config: {source: yfinance | baostock | file, symbols: [...], drop_dir: ..., store: data/x}.
`file` reads a drop folder where new long-format CSV/Parquet files with new days appear.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import ValidationError as PydanticValidationError

from stockformer.data import sources
from stockformer.data.loaders import import_panel
from stockformer.data.store import load_panel, save_dataset
from stockformer.data.validate import validate
from stockformer.errors import ConfigError, DataError, SourceError, StockformerError

log = logging.getLogger(__name__)

DROP_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
DayCheck = Callable[[date, set[str]], object]  # (day, its symbols) -> raises to refuse the day


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["yfinance", "baostock", "file"]
    symbols: list[str] = []  # empty: every symbol the source delivers (file) / the store holds
    drop_dir: str | None = None
    store: str
    start: date | None = None  # first day to download when the store is still empty

    @model_validator(mode="after")
    def _check(self) -> SourceConfig:
        if self.source == "file" and not self.drop_dir:
            raise ValueError("source: file needs drop_dir (the folder new files appear in)")
        return self


@dataclass
class DataUpdate:
    panel: pl.DataFrame
    new_rows: int
    origin: str  # what the panel came from, for messages


def load_source_config(path: str | Path) -> SourceConfig:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the source config ({type(err).__name__})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a source config is a mapping (source, symbols, drop_dir, store)")
    try:
        scfg = SourceConfig.model_validate(raw)
    except PydanticValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"{path}: {key}: {first['msg']}") from None
    base = path.parent  # relative paths in the YAML are relative to the file
    if scfg.drop_dir and not Path(scfg.drop_dir).is_absolute():
        scfg.drop_dir = str(base / scfg.drop_dir)
    if not Path(scfg.store).is_absolute():
        scfg.store = str(base / scfg.store)
    return scfg


def is_source_config(data: str | Path) -> bool:
    return Path(data).suffix.lower() in (".yaml", ".yml")


def _stored(store: Path) -> pl.DataFrame | None:
    return load_panel(store) if (store / "panel.parquet").is_file() else None


def _read_drop(drop_dir: Path) -> pl.DataFrame | None:
    """Every row of every CSV/Parquet file in the drop folder, read in name order; a (date,
    symbol) delivered twice (a partial file, then the complete one) is taken from the later file."""
    if not drop_dir.is_dir():
        raise SourceError(f"{drop_dir}: drop folder not found (source: file)")
    files = sorted(p for p in drop_dir.iterdir()
                   if p.is_file() and p.name.lower().endswith(DROP_SUFFIXES))
    frames = []
    for f in files:
        try:
            part, _ = import_panel(f)  # read + adjust + validate, as `data import` does
        except (OSError, pl.exceptions.PolarsError) as err:
            raise SourceError(f"{f}: cannot read ({type(err).__name__}: {err})") from None
        if part.height:
            frames.append(part)
    if not frames:
        return None
    rows = pl.concat(frames, how="diagonal_relaxed")
    return rows.unique(["date", "symbol"], keep="last", maintain_order=True)


def _fetch_online(scfg: SourceConfig, start: date, end: date) -> pl.DataFrame | None:
    """New rows [start, end] from yfinance / baostock (adjusted and validated there)."""
    if not scfg.symbols:
        raise ConfigError(f"source: {scfg.source} needs symbols (the list to download)")
    # yfinance's `end` is exclusive, baostock's inclusive
    stop = end + timedelta(days=1) if scfg.source == "yfinance" else end
    frame, _ = sources.import_online(scfg.source, scfg.symbols, start, stop)  # type: ignore[arg-type]
    return frame if frame.height else None


def _unstored(rows: pl.DataFrame, old: pl.DataFrame | None) -> pl.DataFrame:
    """The rows whose (date, symbol) the store lacks: new days, and the stocks missing from a
    stored day (a fuller delivery of a partial day). Stored rows are never rewritten."""
    if old is None or old.height == 0:
        return rows
    return rows.join(old.select("date", "symbol"), on=["date", "symbol"], how="anti")


def _stage(scfg: SourceConfig, old: pl.DataFrame | None, until: date) -> pl.DataFrame | None:
    """The source's rows that the store lacks; nothing is written here."""
    last = old["date"].max() if old is not None and old.height else None
    if scfg.source == "file":
        new = _read_drop(Path(scfg.drop_dir or ""))
    else:
        start = last + timedelta(days=1) if last is not None else scfg.start
        if start is None:
            raise ConfigError(f"{scfg.store}: the store is empty; set `start:` in the source "
                              "config (the first day to download)")
        new = _fetch_online(scfg, start, until) if start <= until else None
    if new is not None and scfg.symbols:
        new = new.filter(pl.col("symbol").is_in(scfg.symbols))
    return None if new is None else _unstored(new, old)


def _days_to_check(staged: pl.DataFrame, last: date | None, until: date) -> list[date]:
    """The staged days after the store's last day. A first fill is checked from the day being
    predicted on: its older history predates stocks that listed later."""
    days = sorted(d for d in staged["date"].unique().to_list() if last is None or d > last)
    if last is None:
        upto = [d for d in days if d <= until]
        days = [d for d in days if d >= upto[-1]] if upto else days
    return days


def _accepted(staged: pl.DataFrame, old: pl.DataFrame | None, accept: DayCheck,
              until: date) -> tuple[pl.DataFrame, tuple[date, StockformerError] | None]:
    """The staged rows up to the first new day that `accept` refuses, and that refusal: the
    store stays gap-free, and the refused day is staged again on the next run."""
    last = old["date"].max() if old is not None and old.height else None
    for day in _days_to_check(staged, last, until):
        symbols = set(staged.filter(pl.col("date") == day)["symbol"].to_list())
        try:
            accept(day, symbols)
        except StockformerError as err:
            log.warning("data: %s not stored (nor any later day): %s", day, err)
            return staged.filter(pl.col("date") < day), (day, err)
    return staged, None


def update_store(scfg: SourceConfig, until: date, accept: DayCheck | None = None) -> DataUpdate:
    """Stage the source's rows the store lacks, check each new day with `accept` (the job's
    coverage check), then commit the days that pass. A refused day on or before `until`
    raises, after the days before it are committed."""
    store = Path(scfg.store)
    old = _stored(store)
    staged = _stage(scfg, old, until)
    refused = None
    if staged is not None and staged.height and accept is not None:
        staged, refused = _accepted(staged, old, accept, until)
    if staged is not None and staged.height:
        combined = staged if old is None else pl.concat([old, staged], how="diagonal_relaxed")
        panel, report = validate(combined, source=f"{store} + new {scfg.source} rows")
        save_dataset(panel, store, report=report,
                     meta={"source": scfg.source, "updated_through": panel["date"].max()})
        log.info("data: %d new rows from %s (store %s now ends %s)", staged.height,
                 scfg.source, store, panel["date"].max())
        update = DataUpdate(panel, int(staged.height), str(store))
    else:
        update = DataUpdate(old, 0, str(store)) if old is not None else None
    if refused is not None and refused[0] <= until:
        day, err = refused
        raise type(err)(f"{err}; {day} is not stored: the next run reads it again, so a "
                        "fuller delivery is taken") from None
    if update is None:
        raise SourceError(f"{scfg.source}: delivered no rows to store and the store {store} "
                          "is empty")
    return update


def load_data(data: str | Path, until: date, accept: DayCheck | None = None) -> DataUpdate:
    """The panel for the job: update a source config's store (new days checked with `accept`),
    or read a dataset directory as it is."""
    if is_source_config(data):
        return update_store(load_source_config(data), until, accept)
    path = Path(data)
    if not path.exists():
        raise DataError(f"{path}: no such dataset directory or source config")
    return DataUpdate(load_panel(path), 0, str(path))
