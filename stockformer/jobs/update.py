"""--data for the daily job: a dataset directory (used as is) or a source config YAML whose
store is updated incrementally (only days after the last stored date) before predicting.

Source config: {source: yfinance | baostock | file, symbols: [...], drop_dir: ..., store: data/x}.
`file` reads a drop folder where new long-format CSV/Parquet files with new days appear.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import ValidationError as PydanticValidationError

from stockformer.errors import ConfigError, DataError, SourceError

log = logging.getLogger(__name__)

DROP_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


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
    from stockformer.data.store import load_panel

    return load_panel(store) if (store / "panel.parquet").is_file() else None


def _read_drop(drop_dir: Path, after: date | None) -> pl.DataFrame | None:
    """Rows dated after `after` from every CSV/Parquet file in the drop folder (name order)."""
    from stockformer.data.loaders import import_panel

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
        if after is not None:
            part = part.filter(pl.col("date") > after)
        if part.height:
            frames.append(part)
    return pl.concat(frames, how="diagonal_relaxed") if frames else None


def _fetch_online(scfg: SourceConfig, start: date, end: date) -> pl.DataFrame | None:
    """New rows [start, end] from yfinance / baostock (adjusted and validated there)."""
    from stockformer.data.sources import import_online

    if not scfg.symbols:
        raise ConfigError(f"source: {scfg.source} needs symbols (the list to download)")
    # yfinance's `end` is exclusive, baostock's inclusive
    stop = end + timedelta(days=1) if scfg.source == "yfinance" else end
    frame, _ = import_online(scfg.source, scfg.symbols, start, stop)  # type: ignore[arg-type]
    return frame if frame.height else None


def update_store(scfg: SourceConfig, until: date) -> DataUpdate:
    """Append the source's days after the last stored date (up to `until`), validate, save."""
    from stockformer.data.store import save_dataset
    from stockformer.data.validate import validate

    store = Path(scfg.store)
    old = _stored(store)
    last = old["date"].max() if old is not None and old.height else None
    if scfg.source == "file":
        new = _read_drop(Path(scfg.drop_dir or ""), last)
    else:
        start = last + timedelta(days=1) if last is not None else scfg.start
        if start is None:
            raise ConfigError(f"{store}: the store is empty; set `start:` in the source config "
                              "(the first day to download)")
        new = _fetch_online(scfg, start, until) if start <= until else None
        if new is not None and last is not None:
            new = new.filter(pl.col("date") > last)
    if new is not None and scfg.symbols:
        new = new.filter(pl.col("symbol").is_in(scfg.symbols))
    if new is None or new.height == 0:
        if old is None:
            raise SourceError(f"{scfg.source}: delivered no rows and the store {store} is empty")
        return DataUpdate(old, 0, str(store))
    combined = new if old is None else pl.concat([old, new], how="diagonal_relaxed")
    panel, report = validate(combined, source=f"{store} + new {scfg.source} rows")
    save_dataset(panel, store, report=report,
                 meta={"source": scfg.source, "updated_through": panel["date"].max()})
    log.info("data: %d new rows from %s (store %s now ends %s)", new.height, scfg.source, store,
             panel["date"].max())
    return DataUpdate(panel, int(new.height), str(store))


def load_data(data: str | Path, until: date) -> DataUpdate:
    """The panel for the job: update a source config's store, or read a dataset directory."""
    from stockformer.data.store import load_panel

    if is_source_config(data):
        return update_store(load_source_config(data), until)
    path = Path(data)
    if not path.exists():
        raise DataError(f"{path}: no such dataset directory or source config")
    return DataUpdate(load_panel(path), 0, str(path))
