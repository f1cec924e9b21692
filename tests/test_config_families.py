"""features.families: the factor-family switch, its legacy `alpha360` key, the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockformer.config import FACTOR_FAMILIES, FeaturesConfig, load_config
from stockformer.errors import ConfigError
from stockformer.factors.families import FAMILIES, layout, lookback

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, features: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text("features:\n" + "".join(f"  {line}\n" for line in features.splitlines()))
    return p


def test_default_is_alpha360_and_every_name_is_registered():
    assert FeaturesConfig().families == ["alpha360"]
    assert set(FACTOR_FAMILIES) == set(FAMILIES)


@pytest.mark.parametrize("name", ["default.yaml", "paper.yaml", "small.yaml"])
def test_shipped_configs_use_the_families_key(name):
    text = (ROOT / "configs" / name).read_text()
    assert "alpha360:" not in text
    assert load_config(ROOT / "configs" / name).features.families == ["alpha360"]


def test_old_alpha360_true_still_loads_and_is_written_the_new_way(tmp_path):
    cfg = load_config(write(tmp_path, "alpha360: true\nwindow: 30"))
    assert cfg.features.families == ["alpha360"] and cfg.features.window == 30
    assert "alpha360" not in cfg.features.model_dump()
    assert "families:\n  - alpha360" in cfg.to_yaml()


@pytest.mark.parametrize("features", [
    "alpha360: false",
    "alpha360: true\nfamilies: [alpha158]",
    "alpha360: maybe",
])
def test_other_alpha360_values_name_the_new_key_in_one_line(tmp_path, features):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, features))
    msg = str(err.value)
    assert "features.families" in msg and "\n" not in msg


@pytest.mark.parametrize(("features", "match"), [
    ("families: [alpha999]", r"features\.families\.0"),
    ("families: []", r"features\.families"),
    ("families: [alpha158, alpha158]", "twice"),
])
def test_bad_families_are_one_line_errors(tmp_path, features, match):
    with pytest.raises(ConfigError, match=match) as err:
        load_config(write(tmp_path, features))
    assert "\n" not in str(err.value)


def test_override_takes_a_list_or_one_bare_family():
    assert load_config(None, {"features.families": ["alpha158", "alpha360"]}
                       ).features.families == ["alpha158", "alpha360"]
    assert load_config(None, {"features.families": "alpha158"}).features.families == ["alpha158"]


def test_layout_and_lookback_follow_the_chosen_families():
    both = FeaturesConfig(families=["alpha158", "alpha360"], window=10)
    lay = layout(both)
    assert lay.n_features == 158 + 60 and lay.offsets.tolist() == [0, 158]
    assert lay.names[0] == "KMID" and lay.names[158] == "CLOSE9"
    assert lookback(both) == 61  # the 60-day window of one-day changes
    assert lookback(FeaturesConfig(window=90)) == 90
