"""The training recipe: target processing (per day, causal), loss kinds, LR schedules,
input regularisation, and the per-epoch progress lines."""

from __future__ import annotations

import dataclasses
import logging
import sys

import numpy as np
import pytest
import torch
from scipy.stats import norm, rankdata
from test_trainer import make_fs, make_graph, make_split, rank_ic, small_cfgs

from stockformer.config import TrainConfig
from stockformer.train.loss import LOSSES, masked_neg_ic, multitask_loss
from stockformer.train.progress import epoch_line, progress_logger, set_quiet
from stockformer.train.schedule import make_scheduler, warmup_cosine
from stockformer.train.targets import process_target
from stockformer.train.trainer import fit, perturb_inputs

torch.set_num_threads(1)


def _labels(seed=0, days=12, n=9):
    g = torch.Generator().manual_seed(seed)
    y = 0.02 * torch.randn(days, n, generator=g)
    mask = torch.rand(days, n, generator=g) > 0.2
    return y, mask


# -- target processing ------------------------------------------------------------------------
def test_zscore_matches_numpy_per_day():
    y, mask = _labels()
    z = process_target(y, mask, "zscore")
    for t in range(len(y)):
        v = y[t][mask[t]].double().numpy()
        ref = (v - v.mean()) / v.std()
        np.testing.assert_allclose(z[t][mask[t]].double().numpy(), ref, atol=1e-5)
        assert (z[t][~mask[t]] == 0).all()


def test_rank_gauss_matches_scipy_with_ties():
    y, mask = _labels(1)
    y[3, :4] = 0.01  # ties
    mask[3, :4] = True
    r = process_target(y, mask, "rank")
    for t in range(len(y)):
        v = y[t][mask[t]].double().numpy()
        ref = norm.ppf((rankdata(v) - 0.5) / len(v))
        np.testing.assert_allclose(r[t][mask[t]].double().numpy(), ref, atol=1e-5)
    tied = r[3, :4]
    assert torch.allclose(tied, tied[0].expand(4))


@pytest.mark.parametrize("kind", ["zscore", "rank"])
def test_target_uses_only_its_own_day(kind):
    """Perturbing every later day (values and masks) and the masked cells of the same day
    changes nothing on or before that day: the transform is per day, so no look-ahead."""
    y, mask = _labels(2)
    base = process_target(y, mask, kind)
    for t in range(len(y) - 1):
        y2, m2 = y.clone(), mask.clone()
        y2[t + 1 :] = 5.0 * torch.randn_like(y2[t + 1 :])
        m2[t + 1 :] = torch.rand_like(y2[t + 1 :]) > 0.5
        y2[t][~mask[t]] = 99.0  # a masked cell of day t itself
        again = process_target(y2, m2, kind)
        assert torch.equal(again[: t + 1], base[: t + 1])


def test_raw_target_is_identity_and_unknown_kind_fails():
    y, mask = _labels()
    assert process_target(y, mask, "raw") is y
    with pytest.raises(ValueError):
        process_target(y, mask, "minmax")


def test_perturbing_test_labels_changes_no_training_choice():
    """A fit with the rank target sees train and validation labels only: test labels after the
    validation period can be anything without changing the history or the selected weights."""
    fs, split = make_fs(days=90, n=12, f=4), make_split(days=90)
    mcfg, tcfg = small_cfgs()
    tcfg = tcfg.model_copy(update={"epochs": 2, "target": "rank", "loss": "mse"})
    labels = fs.labels.copy()
    after = split.test.min() + 2  # beyond the last validation label window
    labels[after:] = np.random.default_rng(5).standard_normal(labels[after:].shape)
    fs2 = dataclasses.replace(fs, labels=labels.astype(np.float32))
    graph = make_graph(n=12)
    a = fit(fs, split, graph, mcfg, tcfg, seed=0)
    b = fit(fs2, split, graph, mcfg, tcfg, seed=0)
    assert [h["val_rank_ic"] for h in a.history] == [h["val_rank_ic"] for h in b.history]
    for (k, v), (_, w) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(v, w), k


# -- losses ------------------------------------------------------------------------------------
def _outputs(seed=0, shape=(2, 2, 7)):
    g = torch.Generator().manual_seed(seed)
    out = {k: torch.randn(*shape, generator=g) for k in ("reg", "reg_low")}
    out.update({k: torch.randn(*shape, 2, generator=g) for k in ("logits", "logits_low")})
    y = torch.randn(*shape, generator=g)
    mask = torch.rand(*shape, generator=g) > 0.3
    return out, y, mask


def test_neg_ic_equals_numpy_correlation():
    out, y, mask = _outputs()
    got = float(masked_neg_ic(out["reg"], y, mask))
    cors = []
    for idx in np.ndindex(*y.shape[:-1]):
        m = mask[idx].numpy()
        cors.append(np.corrcoef(out["reg"][idx].numpy()[m], y[idx].numpy()[m])[0, 1])
    assert got == pytest.approx(-np.mean(cors), abs=1e-5)


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_ignores_masked_labels_and_has_gradients(loss):
    out, y, mask = _outputs(1)
    out = {k: v.requires_grad_() for k, v in out.items()}
    base = multitask_loss(out, y, mask, y_low=y, loss=loss)
    y2 = torch.where(mask, y, torch.full_like(y, 7.0))
    again = multitask_loss(out, y2, mask, y_low=y2, loss=loss)
    assert torch.allclose(base["loss"], again["loss"])
    base["loss"].backward()
    g = out["reg"].grad
    assert torch.isfinite(g).all() and g[mask].abs().sum() > 0
    assert (g[~mask] == 0).all()  # a masked stock gets no gradient from the regression term


def test_direction_head_uses_the_raw_sign_not_the_processed_target():
    out, y, mask = _outputs(2)
    shifted = y - 10.0  # every processed-like value negative: the CE must not see it
    a = multitask_loss(out, y, mask, loss="mse", target=y)
    b = multitask_loss(out, y, mask, loss="mse", target=shifted)
    assert torch.allclose(a["ce"], b["ce"])
    assert not torch.allclose(a["mse"], b["mse"])


# -- schedules and input regularisation --------------------------------------------------------
def test_warmup_cosine_shape():
    vals = [warmup_cosine(s, 10, 100) for s in range(100)]
    assert vals[0] == pytest.approx(0.1) and vals[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(vals[9:], vals[10:], strict=False))
    assert vals[-1] < 0.01


@pytest.mark.parametrize("kind", ["cosine", "onecycle"])
def test_step_schedules_rise_then_fall(kind):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1e-2)
    cfg = TrainConfig(lr=1e-2, epochs=4, lr_schedule=kind, warmup_epochs=1.0)
    sched = make_scheduler(opt, cfg, mode="max", steps_per_epoch=10)
    lrs = []
    for _ in range(40):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    peak = int(np.argmax(lrs))
    assert 3 <= peak <= 15 and max(lrs) == pytest.approx(1e-2, rel=0.05)
    assert lrs[-1] < 0.05 * max(lrs)


def test_input_perturbation_only_when_asked():
    b = {"x": torch.ones(2, 3, 4, 5), "y": torch.zeros(2)}
    assert perturb_inputs(b, TrainConfig()) is b
    out = perturb_inputs(b, TrainConfig(input_dropout=0.5), torch.Generator().manual_seed(0))
    zeros = (out["x"] == 0).float().mean()
    assert 0.3 < zeros < 0.7 and torch.allclose(out["x"][out["x"] != 0], torch.tensor(2.0))
    noisy = perturb_inputs(b, TrainConfig(input_noise=0.1), torch.Generator().manual_seed(0))
    assert 0.05 < float((noisy["x"] - 1).std()) < 0.2
    assert torch.equal(b["x"], torch.ones(2, 3, 4, 5))  # the batch itself is not modified


# -- learning with the new recipe ---------------------------------------------------------------
@pytest.mark.parametrize("target,loss", [("rank", "mse"), ("zscore", "ic")])
def test_processed_targets_still_learn_the_planted_signal(target, loss):
    fs, split = make_fs(), make_split()
    graph = make_graph()
    mcfg, tcfg = small_cfgs()
    tcfg = tcfg.model_copy(update={"target": target, "loss": loss, "lr_schedule": "cosine",
                                   "warmup_epochs": 1.0})
    res = fit(fs, split, graph, mcfg, tcfg, seed=0)
    assert rank_ic(fs, split, res, graph) > 0.3


# -- progress lines ----------------------------------------------------------------------------
def test_epoch_line_has_every_field():
    row = {"epoch": 2, "train_loss": 0.5, "val_loss": float("nan"), "val_ic": 0.01,
           "val_rank_ic": 0.02, "lr": 1e-3, "seconds": 3.2}
    line = epoch_line("[gru seed 0]", row, 10, 75)
    for part in ("epoch 3/10", "train_loss 0.5000", "val_loss -", "val_ic 0.0100",
                 "val_rank_ic 0.0200", "lr 1.00e-03", "3.2s", "eta 1m15s"):
        assert part in line


def test_fit_prints_one_line_per_epoch_on_stderr_unless_quiet(capfd):
    fs, split = make_fs(days=60, n=8, f=3), make_split(days=60)
    mcfg, tcfg = small_cfgs()
    tcfg = tcfg.model_copy(update={"epochs": 2})
    graph = make_graph(n=8)
    set_quiet(False)
    try:
        fit(fs, split, graph, mcfg, tcfg, seed=0, label="[probe]")
        err = capfd.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.startswith("[probe] epoch")]
        assert len(lines) == 2 and "val_rank_ic" in lines[0] and "eta" in lines[0]
        set_quiet(True)
        fit(fs, split, graph, mcfg, tcfg, seed=0, label="[probe]")
        assert "[probe] epoch" not in capfd.readouterr().err
    finally:
        set_quiet(False)
    assert progress_logger().level == logging.INFO


def test_progress_lines_reach_a_plain_log_file(tmp_path):
    """Not a TTY (nohup, cron, CI): the lines are still written."""
    import subprocess
    import sys

    code = ("from stockformer.train.progress import report_epoch\n"
            "report_epoch('[x]', {'epoch': 0, 'train_loss': 1.0, 'val_loss': 1.0, 'val_ic': 0.0,"
            " 'val_rank_ic': 0.0, 'lr': 0.001, 'seconds': 1.0}, 3, 2.0)\n")
    log = tmp_path / "train.log"
    with log.open("w") as fh:
        subprocess.run([sys.executable, "-c", code], stdout=fh, stderr=subprocess.STDOUT, check=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert "[x] epoch 1/3" in log.read_text()


def test_training_commands_accept_quiet():
    from typer.testing import CliRunner

    from stockformer.cli import app

    for cmd in ("train", "walkforward", "compare", "demo"):
        res = CliRunner().invoke(app, [cmd, "--help"])
        assert "--quiet" in res.output, cmd


# -- the direction head ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["stockformer", "gru"])
def test_detached_direction_head_leaves_the_encoder_to_the_regression_loss(name):
    from stockformer.model.registry import build_model
    from stockformer.train.trainer import detach_direction_heads
    from stockformer.train.windows import WindowDataset

    fs, split = make_fs(days=40, n=9, f=4), make_split(days=40)
    mcfg, _ = small_cfgs(name=name)
    graph = make_graph(n=9)
    batch = next(iter(torch.utils.data.DataLoader(WindowDataset(fs, split.train, 8, 2), batch_size=4)))
    batch["graph_emb"] = torch.as_tensor(graph.embedding)
    batch["edge_index"] = torch.as_tensor(graph.edge_index)

    def grads(mode):
        torch.manual_seed(0)
        model = build_model(mcfg, 4, 9, graph)
        hooks = detach_direction_heads(model, mode)
        out = model(batch)
        ce = multitask_loss(out, batch["y"], batch["y_mask"], tasks="classification")["loss"]
        ce.backward()
        for h in hooks:
            h.remove()
        head = {id(p) for m in model.direction_modules() for p in m.parameters()}
        enc = [p.grad for p in model.parameters() if id(p) not in head]
        return out, enc, [p.grad for m in model.direction_modules() for p in m.parameters()]

    out_j, enc_j, head_j = grads("joint")
    out_d, enc_d, head_d = grads("detached")
    assert torch.equal(out_j["logits"], out_d["logits"])  # forward values unchanged
    assert any(g is not None and g.abs().sum() > 0 for g in enc_j)
    assert all(g is None or g.abs().sum() == 0 for g in enc_d)
    for a, b in zip(head_j, head_d, strict=True):  # the head itself learns the same either way
        assert torch.allclose(a, b)


def test_detach_hooks_are_removed_when_an_epoch_raises(monkeypatch):
    import stockformer.train.trainer as trainer

    built = []
    real_build = trainer.build_model

    def capture(*a, **k):
        built.append(real_build(*a, **k))
        return built[-1]

    def boom(*a, **k):
        raise RuntimeError("epoch failed")

    monkeypatch.setattr(trainer, "build_model", capture)
    monkeypatch.setattr(trainer, "batch_loss", boom)
    fs, split = make_fs(days=40, n=9, f=4), make_split(days=40)
    mcfg, tcfg = small_cfgs(name="gru")
    tcfg = tcfg.model_copy(update={"direction_head": "detached"})
    with pytest.raises(RuntimeError, match="epoch failed"):
        trainer.fit(fs, split, make_graph(n=9), mcfg, tcfg, seed=0)
    heads = built[0].direction_modules()
    assert heads and all(not m._forward_pre_hooks for m in heads)


def test_progress_lines_survive_a_closed_earlier_stderr(monkeypatch, capsys):
    import io

    from stockformer.train.progress import report_epoch

    row = {"epoch": 0, "train_loss": 1.0, "val_loss": 1.0, "val_ic": 0.1, "val_rank_ic": 0.1,
           "lr": 1e-3, "seconds": 1.0}
    gone = io.StringIO()
    monkeypatch.setattr(sys, "stderr", gone)
    report_epoch("[a]", row, 2, 0.0)  # the handler now holds `gone`
    gone.close()  # e.g. a CLI runner's captured stream, closed after its command
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    report_epoch("[b]", row, 2, 0.0)
    assert "[b] epoch 1/2" in sys.stderr.getvalue()
