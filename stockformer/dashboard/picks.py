"""The daily job's latest output (predictions/<YYYY-MM-DD>.parquet + manifest.parquet)
and whether it is stale."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from stockformer.dashboard.runs import read_table
from stockformer.data.calendar import is_trading_day

PICK_COLUMNS = ("rank", "symbol", "score", "pred_return", "prob_up", "target_weight")
MANIFEST_COLUMNS = ("date", "run_id", "data_cutoff", "status", "generated_at")
_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.parquet$")


@dataclass
class Picks:
    date: date
    path: Path
    frame: pl.DataFrame
    manifest: dict[str, Any] | None  # the manifest row for this date, when there is one

    @property
    def data_cutoff(self) -> date | None:
        value = (self.manifest or {}).get("data_cutoff")
        return _as_date(value) if value is not None else None

    @property
    def generated_at(self) -> datetime | None:
        value = (self.manifest or {}).get("generated_at")
        if isinstance(value, datetime) or value is None:
            return value
        try:  # a job may store it as ISO text
            return datetime.fromisoformat(str(value))
        except ValueError:
            return None


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def pick_files(folder: Path) -> list[tuple[date, Path]]:
    """(date, file) of every predictions/<YYYY-MM-DD>.parquet, oldest first."""
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        match = _DAY_FILE.match(p.name)
        if match:
            try:
                out.append((date.fromisoformat(match.group(1)), p))
            except ValueError:
                continue
    return sorted(out)


def latest_picks(folder: Path) -> Picks | None:
    """The newest successful day of the job; None when it has not produced anything yet.

    With a manifest, the newest row whose status is ok (or success) wins; without one,
    the newest dated file. RunError when that file is unreadable or malformed.
    """
    files = dict(pick_files(folder))
    manifest_row = None
    chosen: date | None = None
    manifest_path = folder / "manifest.parquet"
    if manifest_path.is_file():
        manifest = read_table(manifest_path, MANIFEST_COLUMNS)
        good = manifest.filter(pl.col("status").cast(pl.Utf8).str.to_lowercase().is_in(["ok", "success"]))
        good = good.filter(pl.col("date").is_in(list(files)))
        if good.height:
            manifest_row = good.sort("date", "generated_at").row(-1, named=True)
            chosen = _as_date(manifest_row["date"])
    if chosen is None:
        if not files:
            return None
        chosen = max(files)
    frame = read_table(files[chosen], PICK_COLUMNS).sort("rank")
    return Picks(date=chosen, path=files[chosen], frame=frame, manifest=manifest_row)


def last_trading_day(now: datetime, close_at: time = time(16, 30), calendar: str = "XSHG") -> date:
    """The latest session whose data the job should have used by `now`.

    Today counts once the job's time has passed; sessions come from
    stockformer.data.calendar when it offers one, else from business days.
    """
    today = now.date()
    candidates = [today - timedelta(days=i) for i in range(0, 15)]
    if now.time() < close_at:
        candidates = candidates[1:]
    sessions = _sessions(min(candidates), today, calendar)
    for day in candidates:
        if day in sessions:
            return day
    return candidates[-1]


def _sessions(start: date, end: date, calendar: str) -> set[date]:
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return {d for d in days if is_trading_day(d, calendar)}


def is_stale(picks: Picks, now: datetime, close_at: time = time(16, 30), calendar: str = "XSHG") -> bool:
    """Stale when the data behind the picks is older than the last trading day."""
    cutoff = picks.data_cutoff or picks.date
    return cutoff < last_trading_day(now, close_at, calendar)
