"""predictions/manifest.parquet: one line per job attempt (success, failure or a no-op).

The manifest is rewritten atomically (read, append, temp + rename) under the job lock, so a
crash leaves the previous manifest. Generation times live here, never in the predictions files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl

from stockformer.io import write_parquet

MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "run_id": pl.Utf8(),
    "model_hash": pl.Utf8(),
    "data_cutoff": pl.Date(),
    "rows": pl.Int64(),
    "wall_seconds": pl.Float64(),
    "status": pl.Utf8(),  # success | failed | exists | holiday (the last two: nothing to do)
    "generated_at": pl.Datetime("us"),
    "message": pl.Utf8(),
}


@dataclass
class ManifestEntry:
    date: date | None
    run_id: str | None
    model_hash: str | None
    data_cutoff: date | None
    rows: int
    wall_seconds: float
    status: str
    generated_at: datetime
    message: str


def read_manifest(out_dir: str | Path) -> pl.DataFrame:
    path = Path(out_dir) / "manifest.parquet"
    if not path.is_file():
        return pl.DataFrame(schema=MANIFEST_SCHEMA)
    return pl.read_parquet(path)


def append_manifest(out_dir: str | Path, entry: ManifestEntry) -> Path:
    row = pl.DataFrame([asdict(entry)], schema=MANIFEST_SCHEMA)
    frame = pl.concat([read_manifest(out_dir).cast(MANIFEST_SCHEMA), row], how="vertical")
    return write_parquet(Path(out_dir) / "manifest.parquet", frame)
