"""The run's graph and weights, loaded for prediction: a file that does not fit the run (another
universe, another configuration) is refused with one line naming it. The run itself is read by
stockformer.rundir.load_run."""

from __future__ import annotations

from pathlib import Path

from stockformer.errors import CheckpointError, RunError
from stockformer.graph import StockGraph
from stockformer.rundir import GRAPH_FILE, MODEL_FILE, RunInfo


def load_graph(info: RunInfo):
    """The run's graph (fitted on its training period; the job never refits it)."""
    gpath = info.path / GRAPH_FILE
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

    from stockformer.model.registry import build_model  # lazy: torch

    model = build_model(info.config.model, n_features, len(info.symbols), graph)
    mpath = info.path / MODEL_FILE if path is None else Path(path)
    what = f"a {info.config.model.name} model with {n_features} features x {len(info.symbols)} stocks"
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
