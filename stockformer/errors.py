"""Error types a user can cause. The CLI turns each into one line and exit code 2."""

import errno
import os


class StockformerError(Exception):
    """Base class for every error caused by input, configuration or environment."""


class ConfigError(StockformerError):
    """A configuration file or option is invalid."""


class DataError(StockformerError):
    """Input data cannot be read or is not acceptable."""


class ValidationError(DataError):
    """A panel violates the schema (missing columns, duplicates, bad prices...)."""


class SourceError(DataError):
    """An online or file-drop data source failed (network down, empty answer)."""


class CheckpointError(StockformerError):
    """A checkpoint is corrupt or does not match the configuration."""


class ResourceError(StockformerError):
    """The requested work would not fit the available memory or device."""


class RunError(StockformerError):
    """A run directory is missing, incomplete or outside the allowed root."""


# an OSError with one of these errnos comes from the user's folders or disk, not from a bug
_ENVIRONMENT_ERRNOS = frozenset(
    getattr(errno, name) for name in (
        "EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "ENOENT", "ENOTDIR", "EISDIR", "EEXIST",
        "ENAMETOOLONG", "ELOOP",
    ) if hasattr(errno, name)
)


def environment_error_line(err: OSError) -> str | None:
    """One line for a file-system error the user can fix (a read-only or missing folder, a
    full disk), naming the path; None for any other OSError, which stays a bug to report."""
    if err.errno not in _ENVIRONMENT_ERRNOS or err.filename is None:
        return None
    reason = (err.strerror or os.strerror(err.errno)).lower()
    hint = (" (choose a writable folder or fix its permissions)"
            if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else "")
    return f"{os.fsdecode(err.filename)}: {reason}{hint}"
