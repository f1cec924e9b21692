"""Which training options a resumed run may change: derived from the config's field marks."""

from __future__ import annotations

from pydantic import Field

from stockformer.config import RESUMABLE, ModelConfig, TrainConfig
from stockformer.train.checkpoint import fingerprint, identity, resumable_fields


def _fingerprint(train: TrainConfig) -> str:
    return fingerprint(identity(ModelConfig(), train, seed=0, n_features=6, n_stocks=10))


def test_resumable_options_are_the_marked_fields():
    assert resumable_fields() == {"epochs", "device", "tensorboard", "num_workers", "early_stopping",
                                  "amp", "max_memory_gb", "trade_output", "ensemble", "cpu_kernels",
                                  "amp_dtype"}
    base = _fingerprint(TrainConfig())
    assert _fingerprint(TrainConfig(epochs=3, device="cpu", ensemble=2)) == base
    assert _fingerprint(TrainConfig(lr=0.5)) != base  # changes what training does: refused


def test_a_new_option_is_part_of_the_identity_unless_marked():
    """The list is not kept by hand: a field added to the config joins the checkpoint's
    identity by default, and leaves it only when its definition carries the mark."""

    class Extended(TrainConfig):
        marked: int = Field(0, json_schema_extra=RESUMABLE)
        unmarked: int = 0

    assert "marked" in resumable_fields(Extended) and "unmarked" not in resumable_fields(Extended)
    base = _fingerprint(Extended())
    assert _fingerprint(Extended(marked=5)) == base
    assert _fingerprint(Extended(unmarked=5)) != base
