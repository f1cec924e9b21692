"""Error types a user can cause. The CLI turns each into one line and exit code 2."""


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
