"""The daily prediction job: calendar check, lock, idempotence, data update, predict, write,
manifest. Every attempt that gets the lock is recorded in the manifest, a no-op (holiday,
exists) included. Every failure is logged with its traceback to <out>/job.log and recorded as
`failed` before it propagates (the CLI turns it into one line and a non-zero exit).
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from stockformer import rundir
from stockformer.config import JobConfig
from stockformer.data.calendar import is_trading_day as _is
from stockformer.errors import StockformerError
from stockformer.jobs.daily import check_coverage, predict_day, require_not_before_start
from stockformer.jobs.lock import JobLockedError, job_lock
from stockformer.jobs.manifest import ManifestEntry, append_manifest
from stockformer.jobs.outputs import prediction_path, previous_target, write_outputs
from stockformer.jobs.update import load_data

log = logging.getLogger("stockformer.jobs")

LOG_FILE = "job.log"
LOCK_FILE = ".lock"


@dataclass
class JobResult:
    status: str  # success | exists | holiday
    day: date
    message: str
    parquet: Path | None = None
    csv: Path | None = None
    rows: int = 0
    wall_seconds: float = 0.0
    data_cutoff: date | None = None


def _file_logger(out_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(out_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # the log file gets the detail; the console gets one line
    return handler


def is_trading_day(day: date, calendar: str) -> bool:
    return bool(_is(day, calendar))


def run_job(
    run: str | Path,
    data: str | Path,
    *,
    out: str | Path | None = None,
    day: date | None = None,
    force: bool = False,
    calendar: str | None = None,
    device: str = "cpu",
    today: date | None = None,
) -> JobResult:
    """Predict `day` (default: `today`, i.e. the local date) with the run at `run`."""
    started = time.perf_counter()
    day = day or today or date.today()
    info, run_error = None, None
    try:
        info = rundir.load_run(run)
    except StockformerError as err:  # still logged and recorded below, under the lock
        run_error = err
    out_dir = Path(out or (info.config.job.out if info else JobConfig().out))
    out_dir.mkdir(parents=True, exist_ok=True)
    cal = calendar or (info.config.job.calendar if info else JobConfig().calendar)
    handler = _file_logger(out_dir)
    try:
        # a second concurrent job stops here (JobLockedError), before touching anything
        with job_lock(out_dir / LOCK_FILE):
            try:
                if run_error is not None:
                    raise run_error
                result = _locked(info, data, out_dir, day, force, cal, device)
                result.wall_seconds = time.perf_counter() - started
                _record(out_dir, info, result)
                if result.status == "success":
                    log.info("predict %s ok in %.1fs: %s -> %s", day, result.wall_seconds,
                             result.message, result.parquet)
                return result
            except Exception as err:
                wall = time.perf_counter() - started
                line = str(err).strip().splitlines()[0] if str(err).strip() else ""
                message = f"{type(err).__name__}: {line}"
                log.error("predict %s failed: %s\n%s", day, message, traceback.format_exc())
                err.job_log = out_dir / LOG_FILE  # the CLI points to the log only once it holds this
                append_manifest(out_dir, ManifestEntry(
                    date=day, run_id=info.name if info else Path(run).name,
                    model_hash=info.model_hash if info else None, data_cutoff=None, rows=0,
                    wall_seconds=wall, status="failed", generated_at=datetime.now(),
                    message=message))
                raise
    except JobLockedError as err:
        log.error("predict %s not started: %s", day, err)
        raise
    finally:
        log.removeHandler(handler)
        handler.close()


def _record(out_dir: Path, info, result: JobResult) -> None:
    """The manifest line of an attempt that ran to its end: success, or a no-op."""
    append_manifest(out_dir, ManifestEntry(
        date=result.day, run_id=info.name, model_hash=info.model_hash,
        data_cutoff=result.data_cutoff, rows=result.rows, wall_seconds=result.wall_seconds,
        status=result.status, generated_at=datetime.now(), message=result.message))


def _locked(info, data, out_dir: Path, day: date, force: bool, cal: str,
            device: str) -> JobResult:
    if cal != "data" and not is_trading_day(day, cal):
        msg = f"{day} is not a trading day on {cal}: nothing to do"
        log.info(msg)
        return JobResult("holiday", day, msg)
    target = prediction_path(out_dir, day)
    if target.is_file() and not force:
        msg = f"{target} exists: nothing rewritten (use --force to recompute)"
        log.info(msg)
        return JobResult("exists", day, msg, parquet=target, csv=target.with_suffix(".csv"))
    # stage, check, commit: a new day enters the store only when enough of the run's stocks
    # have it, so a partial delivery never blocks the day's later, fuller one
    upd = load_data(data, day, accept=lambda d, symbols: check_coverage(info, d, symbols))
    panel = upd.panel
    require_not_before_start(panel, day)
    if cal == "data" and panel.filter(panel["date"] == day).height == 0 \
            and (panel.height == 0 or panel["date"].max() > day):
        msg = f"{day} is not a trading day in the data ({upd.origin}): nothing to do"
        log.info(msg)
        return JobResult("holiday", day, msg)
    prev_day, previous = previous_target(out_dir, day)
    pred = predict_day(info, panel, day, previous, device=device)
    pred.previous_date = prev_day
    parquet, csv = write_outputs(out_dir, day, pred.table)
    summary = pred.summary()
    if upd.new_rows:
        summary += f"; data: {upd.new_rows} new rows"
    return JobResult("success", day, summary, parquet, csv, pred.table.height,
                     data_cutoff=pred.data_cutoff)
