"""Model registry: name -> constructor(cfg, n_features, n_stocks, graph). Baselines add entries."""

from __future__ import annotations

import logging
from collections.abc import Callable

from torch import nn

from stockformer.config import ModelConfig
from stockformer.errors import ConfigError
from stockformer.model.baselines.neural import NEURAL_BASELINES, build_baseline
from stockformer.model.stockformer import Stockformer, count_parameters

log = logging.getLogger(__name__)

Constructor = Callable[[ModelConfig, int, int, object], nn.Module]

MODELS: dict[str, Constructor] = {
    "stockformer": lambda cfg, f, n, graph: Stockformer(cfg, f, n, graph),
}
# the neural baselines share the batch interface; the graph reaches GATs through the batch
MODELS.update({name: (lambda cfg, f, n, graph: build_baseline(cfg, f)) for name in NEURAL_BASELINES})


def register_model(name: str, constructor: Constructor) -> None:
    MODELS[name] = constructor


def build_model(cfg: ModelConfig, n_features: int, n_stocks: int, graph=None) -> nn.Module:
    if cfg.name not in MODELS:
        raise ConfigError(f"model.name: unknown model {cfg.name!r} (known: {', '.join(sorted(MODELS))})")
    model = MODELS[cfg.name](cfg, n_features, n_stocks, graph)
    log.info("model %s: %d parameters", cfg.name, count_parameters(model))
    return model
