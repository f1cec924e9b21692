"""A FeatureSet on disk whose [T, N, F] features are memory-mapped, never read whole.

`features.store: memmap` builds the features in date chunks and streams each chunk to a raw
float32 file, so a tensor larger than RAM (5,000 x 2,500 x 360 = 18 GB) can be built and then
trained from: the trainer's windows are strided views of a read-only np.memmap and a batch copies
only its own rows. A store is one folder:

    features.f32   the [T, N, F] float32 tensor, C order, no header
    arrays.npz     every other FeatureSet array (returns, labels, mask, valid, dates, names, ...)
    store.json     format, shape, dtype and byte size: checked on open, so a truncated or corrupt
                   store is one clear DataError, never a silently wrong tensor

It is written in a temporary folder next to its place and renamed into it at the end: a crash
leaves the previous store or none, never a partial one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from stockformer.errors import DataError
from stockformer.factors.featureset import FeatureSet

FORMAT = 1
FEATURES_FILE = "features.f32"
ARRAYS_FILE = "arrays.npz"
HEADER_FILE = "store.json"
_DTYPE = np.dtype(np.float32)


def store_path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / f"features_{key}.store"


def write_store(
    dest: str | Path,
    shape: tuple[int, int, int],
    chunks: Iterable[tuple[int, int, np.ndarray]],
    side: Callable[[], dict],
) -> FeatureSet:
    """Stream (a, b, features[a:b]) chunks, consecutive from 0 to T, into a store at `dest`.

    `side()` returns the FeatureSet's other fields (returns, labels, mask, valid, dates, symbols,
    feature_names, industries, label_lag, report); it is called after the chunks, so a report
    the chunks fill in is complete. Returns the store opened read-only."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        t, n, f = shape
        row = n * f * _DTYPE.itemsize
        done = 0
        with open(tmp / FEATURES_FILE, "wb") as fh:
            for a, b, x in chunks:
                if a != done or x.shape != (b - a, n, f) or x.dtype != _DTYPE:
                    raise ValueError(f"write_store: chunk [{a}, {b}) {x.shape} {x.dtype} does "
                                     f"not continue rows [0, {done}) of float32 {shape}")
                fh.write(memoryview(np.ascontiguousarray(x)).cast("B"))
                done = b
            if done != t:
                raise ValueError(f"write_store: chunks covered {done} of {t} dates")
            fh.flush()
            os.fsync(fh.fileno())
        # checked as a FeatureSet (shapes, dtypes) before anything is written beside it
        fs = FeatureSet(features=_map(tmp / FEATURES_FILE, shape), **side())
        with open(tmp / ARRAYS_FILE, "wb") as fh:
            np.savez(fh, **fs.side_arrays())
        header = {"format": FORMAT, "dtype": _DTYPE.name, "order": "C", "shape": list(shape),
                  "bytes": t * row}
        (tmp / HEADER_FILE).write_text(json.dumps(header) + "\n", encoding="utf-8")
        del fs  # unmap before the rename
        _replace_dir(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return open_store(dest)


def _replace_dir(tmp: Path, dest: Path) -> None:
    """Rename `tmp` to `dest`; an existing `dest` is moved aside first and removed after (a
    reader that still maps the old features keeps its inode)."""
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
        os.replace(dest, old / "store")
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _map(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    if int(np.prod(shape)) == 0:  # mmap cannot map an empty file
        return np.zeros(shape, dtype=_DTYPE)
    return np.memmap(path, dtype=_DTYPE, mode="r", shape=tuple(shape), order="C")


def _corrupt(path: Path, why: str) -> DataError:
    return DataError(f"{path}: corrupt feature store ({why}); delete the folder to rebuild it")


def open_store(path: str | Path) -> FeatureSet:
    """The store's FeatureSet with `features` a read-only np.memmap (nothing read yet)."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: no feature store here")
    try:
        header = json.loads((path / HEADER_FILE).read_text(encoding="utf-8"))
        shape = tuple(int(v) for v in header["shape"])
        fmt, dtype, nbytes = header["format"], header["dtype"], int(header["bytes"])
    except FileNotFoundError:
        raise _corrupt(path, f"{HEADER_FILE} missing: an unfinished build") from None
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as err:
        raise _corrupt(path, f"{HEADER_FILE} unreadable: {type(err).__name__}") from None
    if fmt != FORMAT:
        raise _corrupt(path, f"format {fmt!r}, this version reads {FORMAT}")
    if dtype != _DTYPE.name or len(shape) != 3 or nbytes != int(np.prod(shape)) * _DTYPE.itemsize:
        raise _corrupt(path, f"header says {dtype} {list(shape)} in {nbytes} bytes")
    feats = path / FEATURES_FILE
    size = feats.stat().st_size if feats.is_file() else None
    if size != nbytes:
        found = "missing" if size is None else f"{size:,} bytes"
        raise _corrupt(path, f"{FEATURES_FILE} is {found}, header says {nbytes:,}: truncated?")
    try:
        with np.load(path / ARRAYS_FILE, allow_pickle=False) as z:
            return FeatureSet.from_arrays(_map(feats, shape), z)
    except FileNotFoundError:
        raise _corrupt(path, f"{ARRAYS_FILE} missing") from None
    except (OSError, ValueError, KeyError, EOFError) as err:
        # a damaged npz, or arrays that disagree with the header's shape (FeatureSet's check)
        raise _corrupt(path, f"{ARRAYS_FILE}: {err}") from None


__all__ = ["open_store", "store_path", "write_store"]
