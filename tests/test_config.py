from pathlib import Path

import pytest

from stockformer.cli import main
from stockformer.config import Config, load_config
from stockformer.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["default.yaml", "small.yaml"])
def test_shipped_configs_load(name):
    cfg = load_config(ROOT / "configs" / name)
    assert isinstance(cfg, Config)


def test_default_yaml_is_the_paper():
    cfg = load_config(ROOT / "configs" / "default.yaml")
    assert (cfg.model.t1, cfg.model.t2, cfg.model.d_model, cfg.model.layers) == (20, 2, 128, 2)
    assert cfg.train.lambda_cls == 2.0 and cfg.train.grad_clip == 0.5
    assert cfg.split.ratios == (0.75, 0.125, 0.125)
    assert cfg.backtest.topk == 5


def test_unknown_key_is_rejected_with_its_name(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  d_modle: 64\n")
    with pytest.raises(ConfigError, match=r"model\.d_modle: unknown key"):
        load_config(p)


def test_wrong_type_names_the_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  epochs: many\n")
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        load_config(p)


def test_bad_ratios_rejected(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("split:\n  ratios: [0.5, 0.1, 0.1]\n")
    with pytest.raises(ConfigError, match="ratios"):
        load_config(p)


def test_overrides_apply_and_validate():
    cfg = load_config(None, {"train.epochs": 3, "model.fusion": "code"})
    assert cfg.train.epochs == 3 and cfg.model.fusion == "code"
    with pytest.raises(ConfigError, match="model.fusion"):
        load_config(None, {"model.fusion": "bogus"})


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)


def test_yaml_round_trip(tmp_path):
    cfg = load_config(None, {"seed": 7})
    p = tmp_path / "c.yaml"
    p.write_text(cfg.to_yaml())
    assert load_config(p) == cfg


def test_cli_turns_config_errors_into_one_line(tmp_path, capsys):
    p = tmp_path / "c.yaml"
    p.write_text("bogus: 1\n")
    code = main(["train", "--config", str(p)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error:") and "bogus" in err[0]
