"""CLI: `stockformer predict` (one day) and `stockformer schedule` (in-process daily timer)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import typer

from stockformer.errors import ConfigError, StockformerError, environment_error_line
from stockformer.jobs.lock import JobLockedError

EXIT_FAILED = 2  # any failure of the job (data, validation, universe, model): one line
EXIT_LOCKED = 3  # another job holds the lock
EXIT_UNEXPECTED = 1
# SystemExit, not typer.Exit: click returns typer.Exit's code from app(standalone_mode=False)
# and cli.main drops that return value, while SystemExit reaches cli.main's handler.


def _parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--date {text!r}: expected YYYY-MM-DD") from None


def _log_hint(err: Exception) -> str:
    """Where the traceback is, only when the job got as far as writing it to its log."""
    log_file = getattr(err, "job_log", None)
    return f" (traceback in {log_file})" if log_file and Path(log_file).is_file() else ""


def register(app: typer.Typer) -> None:
    run_opt = typer.Option(..., "--run", help="run directory, e.g. runs/<id>")
    data_opt = typer.Option(..., "--data", help="dataset directory, or a source config YAML "
                            "{source: yfinance|baostock|file, symbols, drop_dir, store}")
    out_opt = typer.Option(None, "--out", help="output folder (default: the run's job.out)")
    cal_opt = typer.Option(None, "--calendar", help="XSHG, XNYS, ... or data (default: the "
                           "run's job.calendar)")
    device_opt = typer.Option("cpu", "--device", help="auto | cpu | cuda")

    @app.command()
    def predict(
        run: Path = run_opt,
        data: str = data_opt,
        day: str = typer.Option(None, "--date", help="YYYY-MM-DD (default: today); a past date "
                                "uses data up to that day only"),
        out: Path = out_opt,
        force: bool = typer.Option(False, "--force", help="recompute an existing date"),
        calendar: str = cal_opt,
        device: str = device_opt,
    ) -> None:
        """Update the data, predict one trading day, write <out>/<date>.parquet/.csv + manifest."""
        from stockformer.jobs.job import run_job  # lazy: keeps --help fast

        target = _parse_day(day)
        try:
            result = run_job(run, data, out=out, day=target, force=force, calendar=calendar,
                             device=device)
        except JobLockedError as err:
            typer.echo(f"error: {err}", err=True)
            raise SystemExit(EXIT_LOCKED) from None
        except StockformerError as err:
            typer.echo(f"error: {err}", err=True)
            raise SystemExit(EXIT_FAILED) from None
        except Exception as err:
            line = environment_error_line(err) if isinstance(err, OSError) else None
            if line is not None:  # an unwritable or missing folder: the user's to fix
                typer.echo(f"error: {line}{_log_hint(err)}", err=True)
                raise SystemExit(EXIT_FAILED) from None
            typer.echo(f"error: unexpected {type(err).__name__}: {err}{_log_hint(err)}", err=True)
            raise SystemExit(EXIT_UNEXPECTED) from None
        if result.status == "success":
            typer.echo(f"{result.day}: {result.message}")
            typer.echo(f"wrote {result.parquet} and {result.csv} ({result.wall_seconds:.1f}s)")
        else:
            typer.echo(result.message)

    @app.command()
    def schedule(
        at: str = typer.Option("16:30", "--at", help="HH:MM, every weekday"),
        calendar: str = typer.Option("XSHG", "--calendar", help="exchange calendar the job "
                                     "checks (holidays) and whose timezone --at uses"),
        run: Path = run_opt,
        data: str = data_opt,
        out: Path = out_opt,
        tz: str = typer.Option(None, "--tz", help="timezone for --at (default: the exchange's)"),
        device: str = device_opt,
    ) -> None:
        """Run `predict` every weekday at --at, in this process (for machines without cron)."""
        from stockformer.jobs.scheduler import (  # lazy: apscheduler
            build_scheduler,
            calendar_timezone,
            make_job,
        )

        zone = calendar_timezone(calendar, tz)
        job = make_job(run, data, out=out, calendar=calendar, device=device, tz=zone)
        sched = build_scheduler(job, at, zone)
        now = datetime.now(zone)
        nxt = sched.get_jobs()[0].trigger.get_next_fire_time(None, now)
        typer.echo(f"scheduled: predict every weekday at {at} ({zone}); next run {nxt}; "
                   "Ctrl-C stops")
        try:
            sched.start()
        except (KeyboardInterrupt, SystemExit):
            typer.echo("scheduler stopped")
