"""What the daily job needs from a run directory, checked once: config, universe, model hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from stockformer.config import Config
from stockformer.errors import CheckpointError, RunError
from stockformer.io import read_json
from stockformer.run_config import load_run_config
from stockformer.train.ensemble import ensemble_size, member_model_paths

TRADE_OUTPUTS = ("regression", "classification", "blend")


@dataclass
class RunInfo:
    path: Path
    run_id: str
    cfg: Config
    symbols: list[str]  # the model's universe, in model order
    feature_names: list[str] | None  # None when the run did not record them
    trade_output: str
    model_hash: str  # sha256 of model.pt (an ensemble: of its members' sha256s, in order)
    models: list[Path] = field(default_factory=list)  # member weights, member 0 (model.pt) first


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_json(path: Path, what: str):
    return read_json(path, RunError, f"missing ({what}); is this a complete run directory?")


def load_run(path: str | Path) -> RunInfo:
    """Read runs/<id>/: config.yaml, symbols.json, metrics.json (trade output), model.pt hash."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: run directory not found")
    cfg = load_run_config(path)  # its data paths absolute, whatever the current folder
    symbols = _read_json(path / "symbols.json", "the model's symbol list")
    if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
        raise RunError(f"{path / 'symbols.json'}: expected a non-empty list of symbols")
    names_path = path / "feature_names.json"
    names = _read_json(names_path, "feature names") if names_path.is_file() else None
    metrics = _read_json(path / "metrics.json", "the run's metrics and trade output")
    trade_output = metrics.get("trade_output", "regression")
    if trade_output not in TRADE_OUTPUTS:
        raise RunError(f"{path / 'metrics.json'}: trade_output {trade_output!r} is not one of "
                       f"{', '.join(TRADE_OUTPUTS)}")
    models = member_model_paths(path, ensemble_size(cfg))
    for model_path in models:
        if not model_path.is_file():
            raise RunError(f"{model_path}: missing (the trained weights)")
    hashes = [sha256_file(m) for m in models]
    model_hash = hashes[0] if len(hashes) == 1 else \
        hashlib.sha256("\n".join(hashes).encode()).hexdigest()
    return RunInfo(path, path.resolve().name, cfg, symbols, names, trade_output, model_hash, models)


def load_graph(info: RunInfo):
    """The run's graph (fitted on its training period; the job never refits it)."""
    from stockformer.graph import StockGraph

    gpath = info.path / "graph.npz"
    if not gpath.is_file():
        raise RunError(f"{gpath}: missing (the run's stock graph)")
    try:
        graph = StockGraph.load(gpath)
    except (OSError, KeyError, ValueError) as err:
        raise CheckpointError(f"{gpath}: unreadable ({type(err).__name__}: {err})") from None
    n = graph.adjacency.shape[0] if getattr(graph, "adjacency", None) is not None else None
    if n is not None and n != len(info.symbols):
        raise CheckpointError(f"{gpath}: graph has {n} stocks but symbols.json lists "
                              f"{len(info.symbols)}: the run directory is inconsistent")
    return graph


def _first_mismatch(saved: dict, want: dict) -> str | None:
    """The first difference between two state dicts: a missing, extra or reshaped tensor."""
    for key in want:
        if key not in saved:
            return f"{key} is missing from the file"
        if tuple(saved[key].shape) != tuple(want[key].shape):
            return (f"{key} has shape {list(saved[key].shape)} in the file, "
                    f"{list(want[key].shape)} expected")
    extra = [k for k in saved if k not in want]
    return f"unexpected tensor {extra[0]}" if extra else None


def load_model(info: RunInfo, n_features: int, graph, path: Path | None = None):
    """Build the run's model and load model.pt, or the member weights at `path` (weights_only,
    strict); a file from another configuration is refused with one line naming the first
    mismatching tensor."""
    import torch

    from stockformer.model.registry import build_model

    model = build_model(info.cfg.model, n_features, len(info.symbols), graph)
    mpath = info.path / "model.pt" if path is None else Path(path)
    what = f"a {info.cfg.model.name} model with {n_features} features x {len(info.symbols)} stocks"
    try:
        state = torch.load(mpath, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a torch file, or a pickle weights_only refuses
        raise CheckpointError(f"{mpath}: unreadable or unsafe weights file "
                              f"({type(err).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{mpath}: not a state dict of tensors")
    mismatch = _first_mismatch(state, model.state_dict())
    if mismatch:
        raise CheckpointError(f"{mpath}: made for another configuration than {what}: {mismatch}")
    model.load_state_dict(state, strict=True)
    return model.eval()  # trainer.predict moves it to the resolved device
