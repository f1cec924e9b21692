"""features.store = memmap: the feature build streams to a store on disk, training reads windows
of it through a read-only np.memmap, and the result is the in-memory build's, bit for bit."""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from stockformer.config import FeaturesConfig, ModelConfig, TrainConfig, config_from_dict
from stockformer.errors import ConfigError, DataError
from stockformer.factors import pipeline
from stockformer.factors.pipeline import build_features
from stockformer.factors.store import ARRAYS_FILE, FEATURES_FILE, HEADER_FILE, open_store
from stockformer.train.trainer import fit, predict

torch.set_num_threads(1)

SIDE = ("returns", "labels", "mask", "valid", "dates")


@pytest.fixture(scope="module")
def builds(synth_panel, tmp_path_factory):
    """The synthetic panel's features built in memory and as a memmap store (odd chunks)."""
    root = tmp_path_factory.mktemp("store")
    mem = build_features(synth_panel, FeaturesConfig(cache_dir=None))
    cfg = FeaturesConfig(cache_dir=str(root), store="memmap")
    mm = build_features(synth_panel, cfg, chunk=7)
    return types.SimpleNamespace(mem=mem, mm=mm, cfg=cfg, root=root)


def _store_dir(fs) -> Path:
    return Path(fs.report["cache_path"])


def test_memmap_build_equals_memory_build(builds, synth_panel):
    mem, mm = builds.mem, builds.mm
    assert isinstance(mm.features, np.memmap) and not mm.features.flags.writeable
    assert mm.features.mode == "r"
    assert np.array_equal(mm.features, mem.features)
    for name in SIDE:
        assert np.array_equal(getattr(mm, name), getattr(mem, name)), name
    assert (mm.symbols, mm.feature_names, mm.industries, mm.label_lag) == (
        mem.symbols, mem.feature_names, mem.industries, mem.label_lag)
    strip = lambda r: {k: v for k, v in r.items() if k not in ("cache", "cache_path")}  # noqa: E731
    assert strip(mm.report) == strip(json.loads(json.dumps(mem.report, default=str)))
    assert mm.report["cache"] == "miss"
    again = build_features(synth_panel, builds.cfg)  # the second build opens the store
    assert again.report["cache"] == "hit" and isinstance(again.features, np.memmap)
    assert np.array_equal(again.features, mem.features)


def _split(days: int, t1: int, t2: int, upto: float):
    """Train / val / test anchors inside the first `upto` share of the dates."""
    a = np.arange(t1 - 1, int(days * upto))
    k1, k2 = int(len(a) * 0.6), int(len(a) * 0.8)
    return types.SimpleNamespace(name="s0", train=a[:k1], val=a[k1 + t2: k2], test=a[k2 + t2:],
                                 fit_end=int(a[k1 - 1]))


def _graph(n: int):
    rng = np.random.default_rng(0)
    src, dst = np.nonzero(~np.eye(n, dtype=bool))
    return types.SimpleNamespace(edge_index=np.stack([src, dst]).astype(np.int64),
                                 edge_weight=rng.random(len(src)).astype(np.float32),
                                 embedding=rng.standard_normal((n, 8)).astype(np.float32))


def _fit_predict(fs, split, graph):
    mcfg = ModelConfig(t1=8, t2=2, d_model=16, layers=1, heads=2, dropout=0.1)
    tcfg = TrainConfig(device="cpu", epochs=1, batch_size=8, early_stopping=None)
    res = fit(fs, split, graph, mcfg, tcfg, seed=5)
    p = predict(res.model, fs, split.test, graph, device="cpu", batch_size=16)
    return res, p


def test_training_from_the_store_equals_training_in_memory(builds):
    mem, mm = builds.mem, builds.mm
    split, graph = _split(len(mem.dates), 8, 2, 0.5), _graph(len(mem.symbols))
    r_mem, p_mem = _fit_predict(mem, split, graph)
    r_mm, p_mm = _fit_predict(mm, split, graph)
    s_mem, s_mm = r_mem.model.state_dict(), r_mm.model.state_dict()
    assert all(torch.equal(s_mem[k], s_mm[k]) for k in s_mem)
    assert np.array_equal(p_mem.pred_return, p_mm.pred_return)
    assert isinstance(mm.features, np.memmap)  # the trainer did not swap it for a copy


def _mapped_rss(path: Path) -> int | None:
    """Bytes of `path`'s mappings resident in this process (/proc/self/smaps), None off Linux."""
    smaps = Path("/proc/self/smaps")
    if not smaps.exists():
        return None
    total, inside = 0, False
    for line in smaps.read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5:  # a mapping's header line
            inside = len(head) >= 6 and head[5] == str(path)
        elif inside and line.startswith("Rss:"):
            total += int(head[1]) * 1024
    return total


def test_training_reads_only_the_windows_it_needs(synth_panel, tmp_path):
    """Fit and predict on anchors in the first 40 % of the dates: the pages of the store this
    process has mapped stay well under the whole file; reading it all would map it all."""
    cfg = FeaturesConfig(cache_dir=str(tmp_path), store="memmap")
    store = _store_dir(build_features(synth_panel, cfg))
    fs = open_store(store)  # a fresh, untouched mapping
    path = (store / FEATURES_FILE).resolve()
    size = path.stat().st_size
    before = _mapped_rss(path)
    if before is None:
        pytest.skip("no /proc/self/smaps on this system")
    assert before == 0
    _fit_predict(fs, _split(len(fs.dates), 8, 2, 0.4), _graph(len(fs.symbols)))
    used = _mapped_rss(path)
    assert 0 < used < 0.55 * size, (used, size)
    float(np.asarray(fs.features).sum())  # what a whole read does: the check would see it
    assert _mapped_rss(path) > 0.95 * size


def _fresh_store(panel, root: Path) -> Path:
    return _store_dir(build_features(panel, FeaturesConfig(cache_dir=str(root), store="memmap")))


def test_a_damaged_store_is_one_clear_error(synth_panel, tmp_path):
    store = _fresh_store(synth_panel, tmp_path)
    feats, header = store / FEATURES_FILE, store / HEADER_FILE
    with open(feats, "r+b") as fh:  # truncated
        fh.truncate(feats.stat().st_size - 4096)
    with pytest.raises(DataError, match=r"corrupt feature store .*truncated") as err:
        open_store(store)
    assert "\n" not in str(err.value) and str(store) in str(err.value)
    # the pipeline meets the same store on its next build: the same one line
    with pytest.raises(DataError, match="truncated"):
        build_features(synth_panel, FeaturesConfig(cache_dir=str(tmp_path), store="memmap"))
    header.write_text("{not json")
    with pytest.raises(DataError, match="store.json unreadable"):
        open_store(store)
    header.unlink()
    with pytest.raises(DataError, match="unfinished build"):
        open_store(store)
    # a header whose shape disagrees with the arrays beside it
    store = _fresh_store(synth_panel, tmp_path / "b")
    h = json.loads((store / HEADER_FILE).read_text())
    t, n, f = h["shape"]
    h["shape"], h["bytes"] = [t * 2, n // 2, f], h["bytes"]
    (store / HEADER_FILE).write_text(json.dumps(h))
    with pytest.raises(DataError, match=f"{ARRAYS_FILE}: FeatureSet"):
        open_store(store)
    with pytest.raises(DataError, match="no feature store"):
        open_store(tmp_path / "nowhere")


def test_a_crash_mid_build_leaves_the_old_store_or_none(synth_panel, tmp_path, monkeypatch):
    cfg = FeaturesConfig(cache_dir=str(tmp_path), store="memmap")
    real, calls = pipeline.process_block, []

    def crash_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed mid-build")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "process_block", crash_on_third)
    with pytest.raises(RuntimeError, match="killed"):
        build_features(synth_panel, cfg)
    assert list(tmp_path.iterdir()) == []  # no store, no temporary folder left behind
    monkeypatch.setattr(pipeline, "process_block", real)
    store = _fresh_store(synth_panel, tmp_path)
    first = np.array(open_store(store).features)
    calls.clear()
    monkeypatch.setattr(pipeline, "process_block", crash_on_third)
    with pytest.raises(RuntimeError, match="killed"):
        build_features(synth_panel, cfg, use_cache=False)  # a rebuild that dies
    assert [p.name for p in tmp_path.iterdir()] == [store.name]
    assert np.array_equal(open_store(store).features, first)


def test_memmap_store_needs_a_folder():
    with pytest.raises(ConfigError, match="features.store = memmap .* cache_dir"):
        config_from_dict({"features": {"store": "memmap", "cache_dir": None}})
    assert FeaturesConfig(store="memmap").cache_dir is not None
