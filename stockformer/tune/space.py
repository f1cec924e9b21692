"""The search space of `stockformer tune`, declared in YAML and checked before any training.

```yaml
params:                      # config keys, dotted as for --set
  train.lr: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}
  model.layers: {type: int, low: 1, high: 3}
  train.loss: {type: categorical, choices: [mse, ic]}
sampler: {startup_trials: 10}              # random trials before TPE models the space
pruner: {startup_trials: 5, warmup_epochs: 1}  # median pruning on validation RankIC per epoch
```

Only training hyper-parameters (`model.*`, `train.*`) can be searched: the features, the graph
and the splits are built once per study, so a key that would change them is refused, as are
keys that do not change what is trained. Every bound and choice is validated against the base
config, so a value the config would refuse is reported before the first trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from stockformer.config import Config, config_from_dict, load_config, read_yaml
from stockformer.errors import ConfigError

TUNABLE_SECTIONS = ("model", "train")
# built once per study from the base config: a trial cannot change them
STUDY_SECTIONS = ("data", "features", "graph", "split")
# inside model / train, settings that are not hyper-parameters of the fit the trial scores
NOT_TUNABLE = {
    "model.name": "compare models with `stockformer compare`; a study tunes one model",
    "train.device": "where a trial runs, not what it learns",
    "train.num_workers": "data loading only",
    "train.tensorboard": "logging only",
    "train.max_memory_gb": "a safety limit, not a hyper-parameter",
    "train.ensemble": "a trial fits one model; ensemble the best config afterwards",
    "train.shuffle_labels": "a control experiment, not a hyper-parameter",
    "train.trade_output": "chosen on validation after training; a trial scores the fit itself",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParamSpec(_Strict):
    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("categorical needs a non-empty `choices` list")
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("categorical takes `choices` only (no low / high / log / step)")
            if len({repr(c) for c in self.choices}) != len(self.choices):
                raise ValueError(f"choices repeat a value: {self.choices}")
            return self
        if self.choices is not None:
            raise ValueError(f"{self.type} takes low / high, not `choices`")
        if self.low is None or self.high is None:
            raise ValueError(f"{self.type} needs `low` and `high`")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"log scale needs low > 0 (got {self.low:g})")
        if self.log and self.step is not None:
            raise ValueError("`step` and `log` cannot be combined")
        if self.type == "int":
            for name in ("low", "high", "step"):
                value = getattr(self, name)
                if value is not None and value != int(value):
                    raise ValueError(f"int needs a whole `{name}` (got {value:g})")
        return self

    def values_to_check(self) -> list[Any]:
        """The values a trial may take at the edges: the bounds, or every choice."""
        if self.type == "categorical":
            return list(self.choices or [])
        cast = int if self.type == "int" else float
        return [cast(self.low), cast(self.high)]


class SamplerSpec(_Strict):
    startup_trials: int = Field(10, ge=0)  # TPE's random start (optuna's default)


class PrunerSpec(_Strict):
    startup_trials: int = Field(5, ge=0)  # trials that finish before any is pruned
    warmup_epochs: int = Field(0, ge=0)  # epochs of a trial before it may be pruned


class SpaceFile(_Strict):
    params: dict[str, ParamSpec] = Field(min_length=1)
    sampler: SamplerSpec = SamplerSpec()
    pruner: PrunerSpec = PrunerSpec()


@dataclass(frozen=True)
class SearchSpace:
    params: dict[str, ParamSpec]
    sampler: SamplerSpec
    pruner: PrunerSpec
    source: str = "search space"

    @property
    def keys(self) -> list[str]:
        return list(self.params)

    def suggest(self, trial) -> dict[str, Any]:
        """One point of the space from an Optuna trial (its suggest_* calls name the keys)."""
        out: dict[str, Any] = {}
        for key, p in self.params.items():
            if p.type == "categorical":
                out[key] = trial.suggest_categorical(key, p.choices)
            elif p.type == "int":
                out[key] = trial.suggest_int(key, int(p.low), int(p.high),
                                             step=int(p.step or 1), log=p.log)
            else:
                out[key] = trial.suggest_float(key, p.low, p.high, step=p.step, log=p.log)
        return out

    def as_dict(self) -> dict[str, Any]:
        """The space as plain data (what space.yaml in the study folder holds)."""
        return SpaceFile(params=self.params, sampler=self.sampler,
                         pruner=self.pruner).model_dump(mode="json", exclude_none=True)


def apply_params(cfg: Config, params: dict[str, Any], source: str = "search space") -> Config:
    """`cfg` with the dotted keys of `params` set; ConfigError (one line, blaming `source`)
    when the result is not a valid config (e.g. d_model not divisible by heads)."""
    raw = cfg.model_dump(mode="json")
    for dotted, value in params.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return config_from_dict(raw, source, dict.fromkeys(params, source))


def _format(err: PydanticValidationError, source: str) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    why = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    why = why.removeprefix("Value error, ")
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{source}: {where}: {why}{more}"


def _check_key(key: str, base: Config, source: str) -> None:
    section = key.split(".", 1)[0]
    try:
        current = _current(base, key)
    except (KeyError, TypeError):
        # the config's own key check words it (the nearest real key suggested); it runs
        # before any value is validated, so the placeholder value never matters
        load_config(None, {key: None}, {key: source})
        raise ConfigError(f"{source}: unknown key {key}") from None
    if isinstance(current, dict):
        raise ConfigError(f"{source}: {key} is a section; name a key inside it "
                          f"(e.g. {key}.{next(iter(current))})")
    if section in STUDY_SECTIONS:
        raise ConfigError(f"{source}: {key} cannot be searched: the {section} are built once per "
                          "study; run one study per value instead (tune --set "
                          f"{key}=VALUE)")
    if section not in TUNABLE_SECTIONS:
        raise ConfigError(f"{source}: {key} cannot be searched: it does not change training "
                          "(a trial is scored on validation RankIC); searchable sections: "
                          f"{', '.join(TUNABLE_SECTIONS)}")
    if key in NOT_TUNABLE:
        raise ConfigError(f"{source}: {key} cannot be searched: {NOT_TUNABLE[key]}")


def _current(cfg: Config, key: str) -> Any:
    node: Any = cfg.model_dump(mode="json")
    for part in key.split("."):
        node = node[part]
    return node


def parse_space(raw: Any, base: Config, source: str = "search space") -> SearchSpace:
    """Validate a parsed space against the base config; ConfigError with one line otherwise."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping with a `params` section")
    try:
        spec = SpaceFile.model_validate(raw)
    except PydanticValidationError as err:
        raise ConfigError(_format(err, source)) from None
    for key, p in spec.params.items():
        _check_key(key, base, source)
        for value in p.values_to_check():
            try:
                apply_params(base, {key: value}, source)
            except ConfigError as err:
                raise ConfigError(f"{err} (params.{key} = {value!r})") from None
    # keys in sorted order: the order trials draw them in (and the table's columns) must not
    # depend on how a file lists them, or a resumed study would assign the draws differently
    return SearchSpace(dict(sorted(spec.params.items())), spec.sampler, spec.pruner, source)


def load_space(path: str | Path, base: Config) -> SearchSpace:
    """Read and validate a search-space YAML file."""
    path = Path(path)
    return parse_space(read_yaml(path, "search space"), base, str(path))
