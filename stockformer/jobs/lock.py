"""A non-blocking exclusive lock (fcntl.flock) so two daily jobs never write the same folder."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stockformer.errors import StockformerError


class JobLockedError(StockformerError):
    """Another prediction job holds the lock on the output folder."""


@contextmanager
def job_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold `path` (e.g. predictions/.lock) exclusively for the block; fail at once if taken.

    flock is released by the kernel when the process dies, so a killed job never leaves a
    stale lock behind (the file itself stays, which is harmless).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobLockedError(
                f"{path}: another prediction job is running (lock held); try again later"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield path
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
