"""Typed configuration, loaded from YAML. Unknown keys and wrong types are rejected.

Each stage reads only its own section. Defaults are the paper's model and data settings with
the project's training recipe (configs/default.yaml repeats them explicitly; the recipe's
reasons are in docs/MODEL_NOTES.md); configs/paper.yaml is the paper's exact recipe and
configs/small.yaml the fast variant.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from stockformer.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SynthConfig(_Section):
    stocks: int = Field(300, ge=2)
    days: int = Field(1500, ge=30)
    seed: int = 0


class DataConfig(_Section):
    path: str = "data/synth"  # a dataset directory (panel.parquet inside) or a panel file
    synth: SynthConfig = SynthConfig()  # what `demo` generates when `path` does not exist
    start: date | None = None
    end: date | None = None
    max_stocks: int | None = Field(None, ge=2)  # keep the first N symbols (sorted), for fast runs


FactorFamily = Literal["alpha360", "alpha158"]  # stockformer/factors/families.py builds each
FACTOR_FAMILIES: tuple[str, ...] = get_args(FactorFamily)


class FeaturesConfig(_Section):
    # factor families, concatenated in this order; all share the preprocessing below
    families: list[FactorFamily] = Field(default_factory=lambda: ["alpha360"], min_length=1)
    window: int = Field(60, ge=1)  # Alpha360 lookback: 60 days -> 6 x 60 = 360 factors
    fillna: bool = True  # forward-fill from the stock's own past
    clip_mad: float | None = 3.0  # median +- k * MAD per date; null switches clipping off
    zscore: bool = True
    neutralize: bool = True  # industry dummies + log(market cap), where present
    label_horizon: int = Field(1, ge=1)  # return from t+1 to t+1+horizon
    label_price: Literal["close", "open"] = "close"
    min_history: int = Field(20, ge=0)  # days since listing before a label counts
    cache_dir: str | None = "data/cache/features"
    # memory: the [T, N, F] tensor is built in RAM (cached as one .npz); memmap: streamed to a
    # feature store on disk under cache_dir (factors/store.py) and trained from read-only
    # windows of it, for universes whose tensor exceeds RAM (5,000 x 2,500 x 360 = 18 GB)
    store: Literal["memory", "memmap"] = "memory"

    @model_validator(mode="before")
    @classmethod
    def _legacy_alpha360(cls, data: Any) -> Any:
        """`alpha360: true` (the old, only possible switch) still loads as families [alpha360];
        anything else names the key that replaced it. One family may be given bare
        (`--set features.families=alpha158`)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("families"), str):
            data["families"] = [data["families"]]
        if "alpha360" not in data:
            return data
        legacy = data.pop("alpha360")
        if legacy is not True or "families" in data:
            raise ValueError("features.alpha360 was replaced by features.families (a list of "
                             "alpha360, alpha158): remove alpha360 and set families, e.g. "
                             "families: [alpha158]")
        data["families"] = ["alpha360"]
        return data

    @model_validator(mode="after")
    def _distinct_families(self) -> FeaturesConfig:
        if len(set(self.families)) != len(self.families):
            raise ValueError(f"features.families lists a family twice: {self.families}")
        return self

    @model_validator(mode="after")
    def _store_needs_a_folder(self) -> FeaturesConfig:
        if self.store == "memmap" and self.cache_dir is None:
            raise ValueError("features.store = memmap writes the feature store under "
                             "features.cache_dir: set cache_dir to a folder")
        return self


class GraphConfig(_Section):
    correlation: Literal["spearman", "pearson"] = "spearman"
    top_k: int | None = None  # keep the k strongest neighbours per stock; null = dense
    source: Literal["correlation", "industry", "both"] = "correlation"
    embedding: Literal["struc2vec", "spectral", "none"] = "struc2vec"
    dim: int = Field(128, ge=2)
    walk_length: int = Field(10, ge=2)
    num_walks: int = Field(80, ge=1)
    window: int = Field(5, ge=1)
    epochs: int = Field(5, ge=1)  # skip-gram epochs


class RollingConfig(_Section):
    train: int = Field(486, ge=10)
    val: int = Field(81, ge=5)
    test: int = Field(81, ge=5)
    step: int = Field(81, ge=1)


class SplitConfig(_Section):
    scheme: Literal["ratio", "dates", "rolling"] = "ratio"
    ratios: tuple[float, float, float] = (0.75, 0.125, 0.125)
    train_end: date | None = None  # for scheme = dates: last day of each period
    val_end: date | None = None
    test_end: date | None = None
    rolling: RollingConfig = RollingConfig()

    @model_validator(mode="after")
    def _check(self) -> SplitConfig:
        if abs(sum(self.ratios) - 1.0) > 1e-6 or min(self.ratios) <= 0:
            raise ValueError("split.ratios must be three positive numbers summing to 1")
        if self.scheme == "dates" and (self.train_end is None or self.val_end is None):
            raise ValueError("split.scheme = dates needs split.train_end and split.val_end")
        return self


class ModelConfig(_Section):
    name: str = "stockformer"  # or a baseline: mlp, lstm, gru, alstm, tcn, transformer, gats, ...
    t1: int = Field(20, ge=2)  # history days
    t2: int = Field(2, ge=1)  # predicted steps
    d_model: int = Field(128, ge=4)
    layers: int = Field(2, ge=1)
    heads: int = Field(1, ge=1)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    wavelet: str = "sym2"
    wavelet_level: int = Field(1, ge=1)
    fusion: Literal["paper", "code", "add"] = "paper"  # paper: Att(l,l,l)+Att(l,h,h)
    dilation: Literal["paper", "code"] = "paper"  # paper: 2**layer, code: 1
    time_embedding: Literal["calendar_graph", "onehot", "none"] = "calendar_graph"
    spatial_attention: Literal["copy", "plain", "sparse"] = "copy"
    sparse_k: int = Field(16, ge=1)  # neighbours per stock for the sparse variant
    attn_chunk: int | None = None  # query rows per chunk in dense spatial attention
    # recompute each encoder layer in backward instead of keeping its activations (training only);
    # auto: on when batch * t1 * stocks >= 16384 (memory matters more than the ~25% extra time)
    grad_checkpoint: Literal["auto", "on", "off"] = "auto"
    use_wavelet: bool = True  # ablation: no wavelet split
    use_temporal: bool = True  # ablation: no temporal modules
    use_graph: bool = True  # ablation: no graph embedding
    use_spatial: bool = True  # ablation: no spatial (cross-stock) attention
    # the last history day's decoupled representation added to the heads' input (the paper: off)
    last_day_skip: bool = True
    # position (the paper): the graph embedding is added to the spatial layers' input, so it also
    # reaches the values and each stock's representation carries its identity (which a model can
    # use to memorise per-stock training means); attention: it shapes only who attends to whom
    # (queries and keys), and the values carry no stock identity
    graph_role: Literal["position", "attention"] = "position"
    tasks: Literal["both", "regression", "classification"] = "both"


# marks a training option an interrupted run may change on --resume (it does not change what a
# finished epoch left): train/checkpoint.py leaves such fields out of a checkpoint's identity
RESUMABLE = {"resumable": True}


class TrainConfig(_Section):
    device: Literal["auto", "cpu", "cuda"] = Field("auto", json_schema_extra=RESUMABLE)
    # mixed precision on CUDA (bf16, or fp16 with loss scaling)
    amp: bool = Field(True, json_schema_extra=RESUMABLE)
    # the CUDA autocast dtype: auto = bf16 where the GPU supports it, else fp16; fp16 trains with
    # loss scaling (GradScaler); CPU training follows cpu_amp (bf16 only)
    amp_dtype: Literal["auto", "bf16", "fp16"] = Field("auto", json_schema_extra=RESUMABLE)
    # bf16 autocast in CPU training: auto = on for large steps (batch x t1 x stocks >= 16,384, the
    # checkpointing rule) on CPUs with native bf16 (avx512_bf16 / amx_bf16); prediction stays fp32
    cpu_amp: Literal["auto", "on", "off"] = "auto"
    # CPU training through the fused CPU kernels (stockformer/accel/): auto = on when training on
    # CPU, off = plain torch everywhere; CUDA always runs plain torch. Same parameters either way,
    # so a checkpoint resumes and a model loads on both paths
    cpu_kernels: Literal["auto", "off"] = Field("auto", json_schema_extra=RESUMABLE)
    epochs: int = Field(100, ge=1, json_schema_extra=RESUMABLE)
    batch_size: int = Field(12, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    lambda_cls: float = Field(2.0, ge=0)  # paper's best; the released code uses 1.0
    grad_clip: float | None = 0.5
    lr_factor: float = Field(0.1, gt=0, lt=1)
    lr_patience: int = Field(20, ge=0)
    # epochs without improvement; null = off
    early_stopping: int | None = Field(30, json_schema_extra=RESUMABLE)
    select_metric: Literal["ic", "rank_ic", "loss"] = "rank_ic"
    trade_output: Literal["auto", "regression", "classification", "blend"] = Field(
        "auto", json_schema_extra=RESUMABLE)
    num_workers: int = Field(0, ge=0, json_schema_extra=RESUMABLE)
    tensorboard: bool = Field(False, json_schema_extra=RESUMABLE)
    # refuse work whose estimate exceeds this
    max_memory_gb: float | None = Field(None, json_schema_extra=RESUMABLE)
    # control experiment: permute train/validation labels across stocks within each day
    shuffle_labels: bool = False
    # -- the training recipe (docs/MODEL_NOTES.md says why each default is what it is) --
    # what the regression heads are trained on; metrics and backtests always use the raw return.
    # raw = the paper; zscore = per-day cross-sectional z-score; rank = per-day rank-Gaussian
    # (qlib's CSRankNorm). Each uses only that day's own cross-section (no look-ahead).
    target: Literal["raw", "zscore", "rank"] = "rank"
    # regression term: mae (the paper), mse, ic (per-day negative Pearson IC), listnet (listwise
    # softmax cross-entropy over each day's stocks); the direction head's CE is added x lambda_cls
    loss: Literal["mae", "mse", "ic", "listnet"] = "mse"
    # plateau = ReduceLROnPlateau on the selection metric (the paper); cosine = linear warm-up then
    # cosine decay over all epochs, per step; onecycle = torch's OneCycleLR
    lr_schedule: Literal["plateau", "cosine", "onecycle"] = "plateau"
    warmup_epochs: float = Field(0.0, ge=0)  # linear warm-up (cosine), in epochs
    input_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # zero factor inputs at random (training)
    input_noise: float = Field(0.0, ge=0.0)  # Gaussian noise std added to factor inputs (training)
    # joint = the paper: the direction head's cross-entropy trains the shared encoder too;
    # detached = the head learns from a stop-gradient copy of the representation, so the raw
    # up/down label (mostly the whole market's move that day) cannot shape the encoder
    direction_head: Literal["joint", "detached"] = "detached"
    # K > 1 trains K seeds (seed, seed+1, ...) and trades the per-day average of their score ranks
    # (resumable: a member's training does not depend on how many members there are)
    ensemble: int = Field(1, ge=1, json_schema_extra=RESUMABLE)


class CostConfig(_Section):
    preset: Literal["cn_a_share", "us", "none", "custom"] = "cn_a_share"
    buy_commission: float | None = None  # fractions of traded value; None = preset's
    sell_commission: float | None = None
    min_commission: float | None = None  # currency units per order
    stamp_duty: float | None = None  # on sells; None = preset's (date-dependent for A-shares)
    slippage_bps: float | None = None
    lot_size: int | None = None
    price_limit: float | None = Field(None, ge=0)  # daily limit fraction; None = preset's, 0 = off
    st_price_limit: float | None = Field(None, ge=0)  # limit for is_st rows; 0 = price_limit


class BacktestConfig(_Section):
    strategy: Literal["topk_dropout", "topk", "long_short"] = "topk_dropout"
    topk: int = Field(5, ge=1)
    n_drop: int = Field(1, ge=0)
    rebalance_every: int = Field(1, ge=1)
    weighting: Literal["equal", "score"] = "equal"
    quantiles: int = Field(5, ge=2)  # long-short: top vs bottom quantile
    fill_price: Literal["close", "open"] = "close"  # of day t+1
    initial_cash: float = Field(1e8, gt=0)
    costs: CostConfig = CostConfig()
    benchmark: str | None = None  # CSV/Parquet index series (date, close); None = equal-weight universe


class JobConfig(_Section):
    calendar: str = "XSHG"
    out: str = "predictions"
    at: str = "16:30"
    history_margin: int = Field(10, ge=0)  # raw days kept beyond t1 + Alpha360 window (ffill)
    min_coverage: float = Field(0.5, ge=0, le=1)  # fail when fewer run symbols trade today


class Config(_Section):
    name: str = "stockformer"
    seed: int = 0
    runs_dir: str = "runs"
    data: DataConfig = DataConfig()
    features: FeaturesConfig = FeaturesConfig()
    graph: GraphConfig = GraphConfig()
    split: SplitConfig = SplitConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    backtest: BacktestConfig = BacktestConfig()
    job: JobConfig = JobConfig()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


@functools.cache
def _schema_keys(model: type[BaseModel] = Config, prefix: str = "") -> tuple[str, ...]:
    """Every dotted key the schema accepts, sections included (train, train.epochs, ...)."""
    keys: list[str] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        keys.append(key)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            keys += _schema_keys(field.annotation, f"{key}.")
    return tuple(keys)


def _did_you_mean(dotted: str) -> str:
    close = difflib.get_close_matches(dotted, _schema_keys(), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _check_override_key(dotted: str, origin: str) -> None:
    """Refuse an override whose key the schema lacks before it is merged, so the message
    blames the flag that carried it and suggests the nearest real key."""
    keys = set(_schema_keys())
    if dotted in keys:
        return
    parts = dotted.split(".")
    for i in range(1, len(parts)):
        head = ".".join(parts[:i])
        if head in keys and not any(k.startswith(f"{head}.") for k in keys):
            raise ConfigError(f"{origin}: {dotted}: {head} is a value, not a section")
    raise ConfigError(f"{origin}: unknown key {dotted}{_did_you_mean(dotted)}")


def _plain(value: Any) -> bool:
    """A value YAML's safe loader builds without a tag's help: scalars, dates, lists, maps."""
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return value is None or isinstance(value, (str, int, float, bool, date))


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """`--set key.sub=value` pairs; each value is read as YAML (a number, text, true/false,
    null, a date, a list); broken YAML or a tag that builds anything else is refused."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set: {item!r}: expected KEY=VALUE, e.g. train.epochs=5")
        key, text = (part.strip() for part in item.split("=", 1))
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            problem = " ".join(str(getattr(err, "problem", None) or type(err).__name__).split())
            raise ConfigError(f"--set: {key}: {text!r} is not a valid value ({problem})") from None
        if not _plain(value):
            raise ConfigError(f"--set: {key}: {text!r} is not a plain value (a number, text, "
                              "true/false, null, a date or a list)")
        out[key] = value
    return out


def _format_pydantic(err: PydanticValidationError, source: str,
                     origins: Mapping[str, str] | None = None) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    # a value that came from a flag is the flag's fault, not the config file's
    for dotted, origin in (origins or {}).items():
        if key == dotted or key.startswith(f"{dotted}."):
            source = origin
    if first["type"] == "extra_forbidden":
        why = f"unknown key{_did_you_mean(key)}"
    else:
        why = first["msg"]
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{source}: {key}: {why}{more}"


def config_from_dict(raw: dict[str, Any] | None, source: str = "config",
                     origins: Mapping[str, str] | None = None) -> Config:
    try:
        return Config.model_validate(raw or {})
    except PydanticValidationError as err:
        raise ConfigError(_format_pydantic(err, source, origins)) from None


def read_yaml(path: Path, what: str) -> Any:
    """A YAML file's content; one ConfigError line when it is missing or not YAML."""
    if not path.is_file():
        raise ConfigError(f"{path}: {what} file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML ({type(err).__name__})") from None


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None,
                origins: Mapping[str, str] | None = None) -> Config:
    """Load a YAML config (None = defaults), apply dotted-key overrides, validate.
    `origins` names the flag each override came from (--set, --device...): errors blame it."""
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        loaded = read_yaml(path, "config")
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping of sections")
        raw = loaded or {}
    blame = {dotted: (origins or {}).get(dotted, "override") for dotted in overrides or {}}
    for dotted, value in (overrides or {}).items():
        _check_override_key(dotted, blame[dotted])
        node = raw
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{source}: {dotted}: cannot override inside a non-mapping")
        node[leaf] = value
    return config_from_dict(raw, source, blame)
