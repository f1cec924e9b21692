"""In-process scheduling for users without cron: APScheduler, mon-fri at a fixed time.

The trigger fires on every weekday; the job itself checks the exchange calendar (holidays).
Production setups use cron or a systemd timer calling `stockformer predict` (docs/DAILY_JOB.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from stockformer.errors import ConfigError, StockformerError
from stockformer.jobs.job import run_job

log = logging.getLogger(__name__)

JOB_ID = "stockformer-predict"


def parse_at(at: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", at.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ConfigError(f"--at {at!r}: expected HH:MM (24-hour), e.g. 16:30")
    return int(m.group(1)), int(m.group(2))


def calendar_timezone(calendar: str, tz: str | None = None) -> tzinfo:
    """`tz` when given, else the exchange's own timezone (so 16:30 means after its close)."""
    if tz:
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"--tz {tz!r}: unknown timezone (e.g. Asia/Shanghai)") from None
    if calendar == "data":
        return datetime.now().astimezone().tzinfo  # type: ignore[return-value]
    import exchange_calendars as xcals

    try:
        return ZoneInfo(str(xcals.get_calendar(calendar).tz))
    except Exception:  # unknown calendar names are reported by the job's own calendar check
        raise ConfigError(f"--calendar {calendar!r}: unknown exchange calendar "
                          "(e.g. XSHG, XNYS, or data)") from None


def make_job(
    run: str | Path, data: str | Path, *, out: str | Path | None, calendar: str,
    device: str, tz: tzinfo,
) -> Callable[[], object]:
    """The callable the scheduler fires: predict today's date (in `tz`); never raises."""
    def job() -> object:
        today: date = datetime.now(tz).date()
        try:
            result = run_job(run, data, out=out, day=today, calendar=calendar, device=device)
            log.warning("daily job %s: %s", today, result.message)
            return result
        except StockformerError as err:  # recorded in the manifest and job.log already
            log.error("daily job %s failed: %s", today, err)
        except Exception as err:  # keep the scheduler alive; the traceback is in job.log
            log.error("daily job %s failed: %s: %s", today, type(err).__name__, err)
        return None

    return job


def build_scheduler(job: Callable[[], object], at: str, tz: tzinfo) -> BlockingScheduler:
    hour, minute = parse_at(at)
    sched = BlockingScheduler(timezone=tz)
    trigger = CronTrigger(day_of_week="mon-fri", hour=hour, minute=minute, timezone=tz)
    # one run at a time; a run missed while the machine slept still fires within the hour
    sched.add_job(job, trigger, id=JOB_ID, max_instances=1, coalesce=True,
                  misfire_grace_time=3600)
    return sched
