"""A dataset on disk: `panel.parquet` + `meta.json` (source, size, date range, report, fingerprint).

The two files are written one after the other (panel first), each atomically; meta.json's
fingerprint (the panel's sha256) tells on load whether a crash fell between the two writes.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from stockformer import io
from stockformer.data.loaders import read_any
from stockformer.data.validate import ValidationReport, validate
from stockformer.errors import DataError

PANEL_FILE = "panel.parquet"
META_FILE = "meta.json"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _describe(panel: pl.DataFrame) -> dict[str, Any]:
    """What meta.json says about the panel itself."""
    return {
        "stocks": panel["symbol"].n_unique() if panel.height else 0,
        "days": panel["date"].n_unique() if panel.height else 0,
        "rows": panel.height,
        "start": panel["date"].min() if panel.height else None,
        "end": panel["date"].max() if panel.height else None,
        "columns": panel.columns,
    }


def save_dataset(
    panel: pl.DataFrame,
    out_dir: str | Path,
    report: ValidationReport | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write `out_dir/panel.parquet` and `out_dir/meta.json` atomically; return `out_dir`."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a directory")
    target = out_dir / PANEL_FILE
    fingerprint: dict[str, str] = {}

    def _write(tmp: Path) -> None:
        panel.write_parquet(tmp, compression="zstd", statistics=True)
        fingerprint["sha256"] = file_sha256(tmp)  # hash the bytes that land on disk

    io.atomic_write(target, _write)
    info: dict[str, Any] = {
        "source": (report.source if report else None),
        **_describe(panel),
        "report": report.to_dict() if report else None,
        "fingerprint": fingerprint["sha256"],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    info.update(meta or {})
    io.write_json(out_dir / META_FILE, info)
    return out_dir


def load_meta(path: str | Path) -> dict[str, Any]:
    """meta.json of a dataset directory (DataError when missing or unreadable)."""
    path = Path(path)
    if path.is_dir():
        meta_path = path / META_FILE
    elif path.is_file() and path.name == PANEL_FILE:
        meta_path = path.with_name(META_FILE)
    else:
        raise DataError(f"{path}: no such dataset directory")
    meta = io.read_json(meta_path, DataError, "not found (not a dataset directory?)", dict)
    return _matching_panel(meta, meta_path.with_name(PANEL_FILE))


def _matching_panel(meta: dict[str, Any], panel_path: Path) -> dict[str, Any]:
    """`meta` when it describes the panel on disk; otherwise (a crash after the panel's write,
    before the meta's) the panel's own size and dates replace the stale ones, with a warning."""
    if not panel_path.is_file() or "fingerprint" not in meta:
        return meta
    sha = file_sha256(panel_path)
    if meta["fingerprint"] == sha:
        return meta
    try:
        panel = pl.read_parquet(panel_path)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise DataError(f"{panel_path}: cannot read ({err})") from None
    # the dates as meta.json holds them (ISO text), whether read back or re-read
    fresh = {k: v.isoformat() if isinstance(v, date) else v for k, v in _describe(panel).items()}
    return {**meta, **fresh, "report": None, "fingerprint": sha,
            "warning": f"{panel_path.with_name(META_FILE).name} described an older "
                       f"{PANEL_FILE} (a write was interrupted); size and dates re-read from "
                       "the panel, its validation report is unknown"}


def load_panel(path: str | Path) -> pl.DataFrame:
    """Load a dataset directory (panel.parquet inside) or a panel file (.parquet / .csv).

    A dataset directory was validated when saved; a loose file is read and validated now
    (not re-adjusted: raw vendor data goes through `import_panel`).
    """
    path = Path(path)
    if path.is_dir() and (path / PANEL_FILE).is_file():
        try:
            return pl.read_parquet(path / PANEL_FILE)
        except (OSError, pl.exceptions.PolarsError) as err:
            raise DataError(f"{path / PANEL_FILE}: cannot read ({err})") from None
    if not path.exists():
        raise DataError(f"{path}: no such dataset or file")

    # a panel file is canonical: its prices are already adjusted (no second adjustment)
    panel, _ = validate(read_any(path), str(path))
    return panel
