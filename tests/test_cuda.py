"""The CUDA path: fit / predict with bf16 autocast and with fp16 + GradScaler, resume from a
checkpoint and a seeded rerun, each compared with the CPU path (tolerances in
tests/device_checks.py). Marked `cuda` (`make gpu-check` runs them: pytest -m cuda) and
skipped without a GPU.

The CPU twins below run the very same check bodies on CPU (bf16 autocast, and fp16 through the
trainer's GradScaler path) against CPU fp32, so the checking code is tested on every machine,
and one twin shows a comparison that must fail does fail.
"""

from __future__ import annotations

import pytest
import torch

from stockformer.train import trainer
from tests import device_checks as dc

torch.set_num_threads(1)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("name", dc.MODELS)
def test_cuda_fit_predict_matches_cpu(name, precision, tmp_path):
    dc.check_matches_cpu_fp32(name, "cuda", precision, tmp_path)


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("name", dc.MODELS)
def test_cuda_resume_matches_uninterrupted(name, precision, tmp_path):
    dc.check_resume(name, "cuda", precision, tmp_path)


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("name", dc.MODELS)
def test_cuda_seeded_rerun_repeats(name):
    dc.check_seeded_rerun(name, "cuda", "bf16")


@pytest.mark.cuda
@needs_cuda
def test_cuda_amp_dtype_choice():
    assert trainer.amp_dtype(torch.device("cuda"), True, cuda_dtype="fp16") == torch.float16
    assert trainer.amp_dtype(torch.device("cuda"), True, cuda_dtype="bf16") == torch.bfloat16
    auto = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert trainer.amp_dtype(torch.device("cuda"), True) == auto


# -- CPU twins: the same bodies, CPU bf16 / fp16 against CPU fp32 --------------------------------
def _cpu_fp16(monkeypatch) -> None:
    """Let the trainer pick fp16 on CPU (it never does by itself) so the GradScaler path runs."""
    real = trainer.amp_dtype

    def fp16_too(device, enabled, cpu_amp="off", large_step=False, cuda_dtype="auto"):
        if device.type == "cpu" and enabled and cuda_dtype == "fp16":
            return torch.float16
        return real(device, enabled, cpu_amp, large_step, cuda_dtype)

    monkeypatch.setattr(trainer, "amp_dtype", fp16_too)


# fp16 on CPU only for the baselines: the GradScaler path is the trainer's, the same for every
# model, and the Stockformer's CPU kernels (stockformer/accel/) take fp32 and bf16 only
@pytest.mark.parametrize(("name", "precision"), [("stockformer", "bf16"), ("gru", "bf16"),
                                                 ("mlp", "bf16"), ("gru", "fp16"), ("mlp", "fp16")])
def test_cpu_twin_matches_cpu_fp32(name, precision, tmp_path, monkeypatch):
    _cpu_fp16(monkeypatch)
    ag = dc.check_matches_cpu_fp32(name, "cpu", precision, tmp_path)
    assert not ag.identical  # the other precision really ran: not the fp32 run twice


@pytest.mark.parametrize("name", ["stockformer", "gru"])
def test_cpu_twin_resume(name, tmp_path):
    ag = dc.check_resume(name, "cpu", "bf16", tmp_path)
    assert ag.identical  # on CPU a resumed run is the uninterrupted one exactly


def test_cpu_twin_seeded_rerun():
    assert dc.check_seeded_rerun("stockformer", "cpu", "bf16").identical


def test_comparison_fails_on_another_model():
    """The tolerance is not vacuous: another seed, or a model trained on shuffled labels, fails."""
    fs = dc.planted_market()
    ref = dc.train_and_predict(fs, "gru", dc.train_cfg("cpu", "fp32"))
    other_seed = dc.train_and_predict(fs, "gru", dc.train_cfg("cpu", "fp32"), seed=7)
    with pytest.raises(AssertionError, match="predictions disagree"):
        dc.assert_agrees(dc.agreement(ref, other_seed), dc.SAME_CORR)
    shuffled = dc.planted_market()
    rng = torch.Generator().manual_seed(0)
    perm = torch.randperm(shuffled.labels.shape[1], generator=rng).numpy()
    shuffled.labels[:] = shuffled.labels[:, perm]
    noise = dc.train_and_predict(shuffled, "gru", dc.train_cfg("cpu", "fp32"))
    with pytest.raises(AssertionError, match="predictions disagree"):
        dc.assert_agrees(dc.agreement(ref, noise), dc.CROSS_CORR, dc.RANK_IC_GAP)
