"""Per-epoch progress lines on stderr, readable in a plain log file (nohup, cron, CI).

A tqdm bar only shows on a terminal; these lines always do unless `--quiet` (set_quiet) is given.
They go through the `stockformer.progress` logger, with its own handler, so the CLI's
WARNING-level root logging does not hide them and an application can re-route them.
"""

from __future__ import annotations

import logging
import math
import os
import sys

LOGGER_NAME = "stockformer.progress"
# set_quiet exports this, so spawned walk-forward workers stay quiet too
QUIET_ENV = "STOCKFORMER_QUIET"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at emit time (pytest's capture, a redirected stream)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        # not setStream: it flushes the previous stream, which may be closed by now (a CLI
        # runner's captured stderr)
        self.stream = sys.stderr
        super().emit(record)


def progress_logger() -> logging.Logger:
    log = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.propagate = False
        if log.level == logging.NOTSET:
            log.setLevel(logging.WARNING if os.environ.get(QUIET_ENV) == "1" else logging.INFO)
    return log


def set_quiet(quiet: bool) -> None:
    os.environ[QUIET_ENV] = "1" if quiet else "0"
    progress_logger().setLevel(logging.WARNING if quiet else logging.INFO)


def _fmt(x: float, spec: str = ".4f") -> str:
    return format(x, spec) if isinstance(x, (int, float)) and math.isfinite(x) else "-"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def epoch_line(label: str, row: dict, epochs: int, eta_seconds: float) -> str:
    """One line per epoch: epoch, train loss, val loss, val IC / RankIC, lr, seconds, ETA."""
    return (
        f"{label} epoch {int(row['epoch']) + 1}/{epochs}  train_loss {_fmt(row['train_loss'])}  "
        f"val_loss {_fmt(row['val_loss'])}  val_ic {_fmt(row['val_ic'])}  "
        f"val_rank_ic {_fmt(row['val_rank_ic'])}  lr {_fmt(row['lr'], '.2e')}  "
        f"{row['seconds']:.1f}s  eta {format_duration(eta_seconds)}"
    )


def report_epoch(label: str, row: dict, epochs: int, eta_seconds: float) -> None:
    progress_logger().info(epoch_line(label, row, epochs, eta_seconds))
