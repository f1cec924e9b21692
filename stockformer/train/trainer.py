"""fit / predict for the Stockformer (and any registry model with the same batch contract).

fit: AdamW, a learning-rate schedule (plateau on the validation metric, cosine or one-cycle), gradient clipping, early stopping,
best-epoch selection on validation, mixed precision on CUDA, seeded and resumable
(checkpoint.pt holds optimizer, scheduler, epoch and RNG state; model.pt the best weights).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from stockformer import accel
from stockformer.config import ModelConfig, TrainConfig
from stockformer.errors import DataError
from stockformer.io import atomic_path, write_text
from stockformer.model.registry import build_model
from stockformer.model.stockformer import count_parameters, is_large_step
from stockformer.signal.metrics import daily_ic, daily_rank_ic
from stockformer.train import checkpoint as ckpt
from stockformer.train.device import amp_dtype, autocast, make_scaler, resolve_device
from stockformer.train.loss import multitask_loss
from stockformer.train.progress import report_epoch
from stockformer.train.schedule import make_scheduler
from stockformer.train.targets import process_target
from stockformer.train.windows import WindowDataset

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_ic", "val_rank_ic", "lr", "seconds")


@dataclass
class FitResult:
    model: nn.Module
    history: list[dict[str, float]]
    best_epoch: int
    train_seconds: float
    parameters: int
    device: torch.device
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Predicted:
    anchors: np.ndarray
    pred_return: np.ndarray  # [A, N] step 0 of T2 (the traded horizon)
    prob_up: np.ndarray  # [A, N]


# -- data ---------------------------------------------------------------------------------
def _graph_tensors(graph, device: torch.device) -> dict[str, torch.Tensor]:
    out = {}
    if graph is not None and getattr(graph, "embedding", None) is not None:
        out["graph_emb"] = torch.as_tensor(np.asarray(graph.embedding), dtype=torch.float32, device=device)
    if graph is not None and getattr(graph, "edge_index", None) is not None:
        out["edge_index"] = torch.as_tensor(np.asarray(graph.edge_index), dtype=torch.long, device=device)
    return out


def _to_device(batch: dict, device: torch.device, extra: dict[str, torch.Tensor]) -> dict:
    out = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    out.update(extra)
    return out


def _loader(ds: Dataset, batch_size: int, *, shuffle: bool, gen: torch.Generator | None, workers: int):
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=gen, num_workers=workers)


# -- evaluation ---------------------------------------------------------------------------
def _low_target(model: nn.Module, y: torch.Tensor) -> torch.Tensor | None:
    fn = getattr(model, "low_target", None)
    return fn(y) if fn is not None else None


def batch_loss(model: nn.Module, out: dict, b: dict, train_cfg: TrainConfig, tasks: str) -> dict:
    """The configured loss of one batch: the regression heads fit the processed target
    (train.target), the direction head the raw return's sign."""
    target = process_target(b["y"], b["y_mask"].bool(), train_cfg.target)
    return multitask_loss(out, b["y"], b["y_mask"], y_low=_low_target(model, target),
                          lambda_cls=train_cfg.lambda_cls, tasks=tasks, loss=train_cfg.loss,
                          target=target)


def perturb_inputs(b: dict, train_cfg: TrainConfig, gen: torch.Generator | None = None) -> dict:
    """Training-time input regularisation: factor dropout and Gaussian noise (train.input_*)."""
    p, sigma = train_cfg.input_dropout, train_cfg.input_noise
    if p <= 0 and sigma <= 0:
        return b
    x = b["x"]
    if p > 0:
        keep = torch.rand(x.shape, device=x.device, generator=gen) >= p
        x = x * keep / (1.0 - p)
    if sigma > 0:
        x = x + sigma * torch.randn(x.shape, device=x.device, generator=gen, dtype=x.dtype)
    return {**b, "x": x}


def _detach_input(module: nn.Module, args: tuple) -> tuple:
    return tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)


def detach_direction_heads(model: nn.Module, mode: str) -> list:
    """train.direction_head = detached: a forward pre-hook cuts the gradient between the shared
    representation and the up/down head (forward values are unchanged). Returns the hook
    handles, removed when training ends."""
    if mode != "detached":
        return []
    modules = getattr(model, "direction_modules", None)
    if modules is None:
        log.warning("train.direction_head = detached: %s has no direction_modules(); left joint",
                    type(model).__name__)
        return []
    return [m.register_forward_pre_hook(_detach_input) for m in modules()]


@torch.no_grad()
def _run_eval(model, loader, device, extra, dtype, train_cfg: TrainConfig, tasks: str):
    model.eval()
    losses, weights, preds, probs, ys, masks = [], [], [], [], [], []
    for batch in loader:
        b = _to_device(batch, device, extra)
        with autocast(device, dtype):
            out = model(b)
        if train_cfg is not None:
            terms = batch_loss(model, out, b, train_cfg, tasks)
            losses.append(float(terms["loss"].detach()))
            weights.append(int(b["y_mask"].sum()))
            ys.append(b["y"][:, 0].float().cpu().numpy())
            masks.append(b["y_mask"][:, 0].cpu().numpy())
        preds.append(out["reg"][:, 0].float().cpu().numpy())
        probs.append(torch.softmax(out["logits"][:, 0].float(), -1)[..., 1].cpu().numpy())
    pred = np.concatenate(preds) if preds else np.zeros((0, 0), np.float32)
    prob = np.concatenate(probs) if probs else np.zeros((0, 0), np.float32)
    if train_cfg is None:
        return pred, prob
    w = np.asarray(weights, dtype=np.float64)
    loss = float(np.dot(losses, w) / w.sum()) if w.sum() > 0 else float("nan")
    return loss, pred, prob, np.concatenate(ys), np.concatenate(masks)


def _score_for(tasks: str, pred: np.ndarray, prob: np.ndarray) -> np.ndarray:
    return prob if tasks == "classification" else pred


def _nanmean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


# -- fit ----------------------------------------------------------------------------------
def _write_history(run_dir: Path, history: list[dict[str, float]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: row.get(k) for k in HISTORY_COLUMNS})
    write_text(run_dir / "history.csv", buf.getvalue())


def _tensorboard(run_dir: Path | None, enabled: bool):
    if not enabled or run_dir is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("train.tensorboard is on but tensorboard is not installed; skipping it")
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _better(score: float, best: float, mode: str) -> bool:
    if not math.isfinite(score):
        return False
    return not math.isfinite(best) or (score > best if mode == "max" else score < best)


def fit(
    fs,
    split,
    graph,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    *,
    seed: int,
    run_dir: str | Path | None = None,
    resume: bool = False,
    label: str | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Train on split.train anchors, select the best epoch on split.val anchors.
    `label` prefixes the per-epoch progress lines (default: model name and seed).
    `on_epoch(row)` is called after each epoch with its history row (epoch, train_loss,
    val_loss, val_ic, val_rank_ic, lr, seconds), once the epoch's files are written; an
    exception it raises stops training and propagates (the tuner's pruning)."""
    device = resolve_device(train_cfg.device)
    run_dir = None if run_dir is None else Path(run_dir)
    _, n_stocks, n_features = fs.features.shape
    t1, t2 = model_cfg.t1, model_cfg.t2
    train_ds = WindowDataset(fs, split.train, t1, t2)
    val_ds = WindowDataset(fs, split.val, t1, t2)
    if len(train_ds) == 0:
        raise DataError(f"split {getattr(split, 'name', '?')}: no training anchors (need > t1 + t2 days)")

    prev_det = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":  # cheap on CPU; on CUDA it would need CUBLAS_WORKSPACE_CONFIG
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        torch.manual_seed(seed)
        model = build_model(model_cfg, n_features, n_stocks, graph).to(device)
        model = accel.for_training(model, device, train_cfg.cpu_kernels)
        n_params = count_parameters(model)
        log.info("%s: %d parameters on %s", model_cfg.name, n_params, device)
        return _fit_loop(model, n_params, fs, split, graph, model_cfg, train_cfg, seed=seed,
                         device=device, run_dir=run_dir, resume=resume,
                         train_ds=train_ds, val_ds=val_ds, n_features=n_features, n_stocks=n_stocks,
                         label=label or f"{model_cfg.name} seed {seed}", on_epoch=on_epoch)
    finally:
        torch.use_deterministic_algorithms(prev_det)


def _fit_loop(model, n_params, fs, split, graph, model_cfg, train_cfg, *, seed, device, run_dir,
              resume, train_ds, val_ds, n_features, n_stocks, label, on_epoch=None) -> FitResult:
    tasks = model_cfg.tasks
    large = is_large_step(train_cfg.batch_size, model_cfg.t1, n_stocks)
    dtype = amp_dtype(device, train_cfg.amp, train_cfg.cpu_amp, large, train_cfg.amp_dtype)
    if dtype is not None:
        log.info("mixed precision: %s autocast on %s", str(dtype).removeprefix("torch."), device.type)
    scaler = make_scaler(device, dtype)
    extra = _graph_tensors(graph, device)
    gen = torch.Generator().manual_seed(seed)
    train_loader = _loader(train_ds, train_cfg.batch_size, shuffle=True, gen=gen,
                           workers=train_cfg.num_workers)
    val_loader = _loader(val_ds, train_cfg.batch_size, shuffle=False, gen=None,
                         workers=train_cfg.num_workers)
    has_val = len(val_ds) > 0
    metric = train_cfg.select_metric if has_val else "loss"
    if not has_val:
        log.warning("no validation anchors: selecting epochs on the training loss")
    mode = "min" if metric == "loss" else "max"
    # AdamW: decoupled weight decay (with weight_decay = 0, the paper's setting, it is exactly Adam)
    opt = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    sched = make_scheduler(opt, train_cfg, mode=mode, steps_per_epoch=len(train_loader))
    per_step = train_cfg.lr_schedule != "plateau"
    ident = ckpt.identity(model_cfg, train_cfg, seed=seed, n_features=n_features, n_stocks=n_stocks)
    start, best, best_epoch, bad = 0, float("nan"), -1, 0
    history: list[dict[str, float]] = []
    best_state = None
    ck_path = None if run_dir is None else run_dir / "checkpoint.pt"
    if resume and ck_path is not None and ck_path.exists():
        data = ckpt.load_checkpoint(ck_path, ident, model.state_dict())
        model.load_state_dict(data["model"])
        opt.load_state_dict(data["optimizer"])
        sched.load_state_dict(data["scheduler"])
        if data.get("scaler"):
            scaler.load_state_dict(data["scaler"])
        torch.set_rng_state(data["rng_torch"])
        gen.set_state(data["rng_loader"])
        if device.type == "cuda" and data.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(data["rng_cuda"], device)
        start, best, best_epoch, bad = data["epoch"] + 1, data["best"], data["best_epoch"], data["bad"]
        history, best_state = list(data["history"]), data["best_state"]
        log.info("resuming from %s at epoch %d", ck_path, start)
    elif resume:
        log.info("resume requested but no checkpoint in %s: starting fresh", run_dir)

    tb = _tensorboard(run_dir, train_cfg.tensorboard)
    hooks = detach_direction_heads(model, train_cfg.direction_head)
    try:  # the hooks must not outlive fit, even when an epoch raises
        t0 = time.perf_counter()
        stopped = False
        last_ic = history[-1]["val_ic"] if history else float("nan")
        for epoch in range(start, train_cfg.epochs):
            if train_cfg.early_stopping is not None and bad >= train_cfg.early_stopping:
                stopped = True
                break
            e0 = time.perf_counter()
            model.train()
            tot, cnt = 0.0, 0
            bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{train_cfg.epochs}", leave=False,
                       disable=None)
            for batch in bar:
                b = perturb_inputs(_to_device(batch, device, extra), train_cfg)
                with autocast(device, dtype):
                    out = model(b)
                terms = batch_loss(model, out, b, train_cfg, tasks)
                opt.zero_grad(set_to_none=True)
                scaler.scale(terms["loss"]).backward()
                if train_cfg.grad_clip is not None:
                    scaler.unscale_(opt)
                    nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
                scaler.step(opt)
                scaler.update()
                if per_step:
                    sched.step()
                tot += float(terms["loss"].detach()) * len(b["y"])
                cnt += len(b["y"])
                bar.set_postfix(loss=f"{tot / cnt:.4f}", val_ic=f"{last_ic:.4f}")
            train_loss = tot / max(cnt, 1)
            row = {"epoch": epoch, "train_loss": train_loss, "val_loss": float("nan"),
                   "val_ic": float("nan"), "val_rank_ic": float("nan")}
            if has_val:
                vloss, pred, prob, y, m = _run_eval(model, val_loader, device, extra, dtype, train_cfg, tasks)
                score = _score_for(tasks, pred, prob)
                row.update(val_loss=vloss, val_ic=_nanmean(daily_ic(score, y, m)),
                           val_rank_ic=_nanmean(daily_rank_ic(score, y, m)))
            value = {"ic": row["val_ic"], "rank_ic": row["val_rank_ic"],
                     "loss": row["val_loss"] if has_val else train_loss}[metric]
            row["lr"] = opt.param_groups[0]["lr"]  # the rate this epoch ran with (at its end)
            if not per_step:
                sched.step(value if math.isfinite(value) else (-1e9 if mode == "max" else 1e9))
            row["seconds"] = time.perf_counter() - e0
            history.append(row)
            last_ic = row["val_ic"]
            if _better(value, best, mode) or best_epoch < 0:
                best, best_epoch, bad = value, epoch, 0
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                if run_dir is not None:
                    with atomic_path(run_dir / "model.pt") as tmp:
                        torch.save(best_state, tmp)
            else:
                bad += 1
            done = epoch + 1 - start
            eta = (time.perf_counter() - t0) / done * (train_cfg.epochs - epoch - 1)
            if train_cfg.early_stopping is not None:  # at most this many more epochs can run
                eta = min(eta, (time.perf_counter() - t0) / done * max(train_cfg.early_stopping - bad, 0))
            report_epoch(label, row, train_cfg.epochs, eta)
            if tb is not None:
                for k in ("train_loss", "val_loss", "val_ic", "val_rank_ic", "lr"):
                    tb.add_scalar(k, row[k], epoch)
            if run_dir is not None:
                _write_history(run_dir, history)
                ckpt.save_checkpoint(ck_path, {
                    "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "scaler": scaler.state_dict(),
                    "rng_torch": torch.get_rng_state(), "rng_loader": gen.get_state(),
                    "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                    "epoch": epoch, "best": best, "best_epoch": best_epoch, "bad": bad,
                    "history": history, "best_state": best_state,
                }, ident)
            if on_epoch is not None:
                on_epoch(dict(row))
    finally:
        for h in hooks:
            h.remove()
        if tb is not None:
            tb.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FitResult(model=model, history=history, best_epoch=best_epoch,
                     train_seconds=time.perf_counter() - t0, parameters=n_params, device=device,
                     extra={"early_stopped": stopped, "select_metric": metric, "best_value": best})


def predict(model: nn.Module, fs, anchors: np.ndarray, graph, *, device, batch_size: int) -> Predicted:
    """Step-0 predictions for each anchor: pred_return and prob_up [A, N] (eval mode, no grad)."""
    device = resolve_device(device)
    model = model.to(device)
    t1, t2 = model.cfg.t1, model.cfg.t2  # every registry model carries its ModelConfig
    anchors = np.asarray(anchors, dtype=np.int64)
    n = fs.features.shape[1]
    if len(anchors) == 0:
        empty = np.zeros((0, n), dtype=np.float32)
        return Predicted(anchors, empty, empty.copy())
    loader = _loader(WindowDataset(fs, anchors, t1, t2), batch_size, shuffle=False, gen=None, workers=0)
    pred, prob = _run_eval(model, loader, device, _graph_tensors(graph, device), None, None, "both")
    return Predicted(anchors, pred.astype(np.float32), prob.astype(np.float32))

