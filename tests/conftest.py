"""Shared fixtures: the synthetic panel every stage tests against, and the optional real data."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from stockformer.data.synthetic import generate_market

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data next to the repository; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not available at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def synth_panel() -> pl.DataFrame:
    """A small valid synthetic panel: 40 stocks x 400 business days, seed 1 (do not mutate)."""
    return generate_market(stocks=40, days=400, seed=1)
