"""Atomic file writes: write to a temp file in the same folder, then rename.

A crash at any moment leaves either the old file or the new one, never a partial file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(target: str | os.PathLike):
    """Yield a temp path next to `target`; on success rename it over `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the file the mode a plain open() would (shared outputs)
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(target: str | os.PathLike, writer: Callable[[Path], Any]) -> Path:
    """Call `writer(tmp_path)` and atomically move the result to `target`."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def write_text(target: str | os.PathLike, text: str) -> Path:
    return atomic_write(target, lambda p: p.write_text(text, encoding="utf-8"))


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(target, lambda p: p.write_bytes(data))


def write_json(target: str | os.PathLike, obj: Any) -> Path:
    return write_text(target, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_parquet(target: str | os.PathLike, frame) -> Path:
    """Write a polars or pandas frame to Parquet atomically."""
    def _write(p: Path) -> None:
        if hasattr(frame, "write_parquet"):
            frame.write_parquet(p)
        else:
            frame.to_parquet(p)
    return atomic_write(target, _write)


def read_json(path: str | os.PathLike, error: type[Exception], missing: str = "missing",
              kind: type | None = None) -> Any:
    """Parse a JSON file; any failure becomes `error` with one line naming the file.
    `missing` says what an absent file means; `kind` (dict, list) checks the top level."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise error(f"{path}: not valid JSON ({type(err).__name__}: {err})") from None
    if kind is not None and not isinstance(obj, kind):
        raise error(f"{path}: expected a JSON {kind.__name__} at the top level")
    return obj


def _json_default(o: Any):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if hasattr(o, "isoformat"):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
