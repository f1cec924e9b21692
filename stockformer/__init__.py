"""Stockformer: price-volume factor stock selection, from raw data to daily picks."""

__version__ = "0.1.0"
