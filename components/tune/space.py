"""The search space of a hyperparameter search: which settings may be tuned, the distributions, and their checks.

No Optuna import here: the config loader checks a space without paying for it (``suggest`` samples it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from components.train.settings import ModelSettings, TrainingSettings

Sampler = Literal["grid", "random", "qmc"]
MAX_TRIALS = 64  # each trial is a whole train step
DISTRIBUTIONS = ("log_uniform", "uniform", "int_uniform", "choice")
SECTIONS = {"model": ModelSettings, "training": TrainingSettings}
# What each tunable setting holds: a float range, an int range, or only a choice (a list, or None allowed).
TUNABLE: dict[str, Literal["float", "int", "choice"]] = {
    "model.hidden_units": "choice",
    "model.dropout": "float",
    "model.l2": "float",
    "model.max_embedding_dim": "int",
    "training.learning_rate": "float",
    "training.batch_size": "int",
    "training.epochs": "int",
    "training.warmup_epochs": "float",
    "training.early_stopping_patience": "int",
    "training.clipnorm": "float",
}
# Settings that change how or where a trial runs, not what it learns: trials must differ only in the model.
NOT_TUNABLE_WHY = {
    "training.workers": "a resource, not a hyperparameter (every trial runs with the training section's workers)",
    "training.worker_timeout_seconds": "a resource, not a hyperparameter",
    "training.mixed_precision": "a speed setting, not a hyperparameter",
    "training.seed": "tuning the seed picks noise; set training.seed once",
    "training.warm_start": "every trial starts the same way; set training.warm_start once",
}
TPE_REFUSED = (
    "tpe learns from finished trials, but the DAG suggests every trial before any trains, so it would only ever "
    "run its random start-up trials: use random or qmc"
)


class SpaceError(ValueError):
    """A search-space entry that cannot be used; ``key`` names the setting."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class Dimension:
    """One tuned setting: ``key`` (``section.field``) and its distribution."""

    key: str
    distribution: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()

    @property
    def section(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def field(self) -> str:
        return self.key.split(".", 1)[1]

    def extremes(self) -> list[Any]:
        """The values whose validity proves every value's: the bounds of a range, every choice."""
        if self.distribution == "choice":
            return list(self.choices)
        if self.distribution == "int_uniform":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]


def parse_dimension(key: str, spec: Any) -> Dimension:
    """A space entry (``{log_uniform: [lo, hi]}``, ``{uniform: ...}``, ``{int_uniform: ...}``, ``{choice: [...]}``)
    as a Dimension; SpaceError naming ``key`` when the key is not tunable or the entry is malformed."""
    if key in NOT_TUNABLE_WHY:
        raise SpaceError(key, f"not tunable: {NOT_TUNABLE_WHY[key]}")
    kind = TUNABLE.get(key)
    if kind is None:
        raise SpaceError(key, f"not tunable; tunable settings: {', '.join(TUNABLE)}")
    if not isinstance(spec, dict) or len(spec) != 1:
        raise SpaceError(key, f"give exactly one distribution: {{{' | '.join(DISTRIBUTIONS)}: ...}}")
    ((distribution, values),) = spec.items()
    if distribution not in DISTRIBUTIONS:
        raise SpaceError(key, f"unknown distribution {distribution!r}; expected one of {', '.join(DISTRIBUTIONS)}")
    if not isinstance(values, list) or not values:
        raise SpaceError(key, f"{distribution}: give a list")
    if distribution == "choice":
        if any(values.count(value) > 1 for value in values):
            raise SpaceError(key, "choice: list distinct values")
        return Dimension(key, distribution, choices=tuple(values))
    wanted = "int" if distribution == "int_uniform" else "float"
    if kind != wanted:
        hints = {"choice": "choice", "int": "int_uniform or choice", "float": "uniform, log_uniform or choice"}
        raise SpaceError(key, f"{distribution} does not fit this {kind} setting; use {hints[kind]}")
    if len(values) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise SpaceError(key, f"{distribution}: give [low, high] numbers")
    low, high = values
    if wanted == "int" and not all(float(v).is_integer() for v in values):
        raise SpaceError(key, "int_uniform: give whole-number bounds")
    if not low < high:
        raise SpaceError(key, f"{distribution}: low {low} must be below high {high}")
    if distribution == "log_uniform" and low <= 0:
        raise SpaceError(key, "log_uniform: low must be above 0")
    return Dimension(key, distribution, low=float(low), high=float(high))


def as_parameter(settings: BaseModel) -> dict[str, Any]:
    """Settings as a JSON dict for a KFP parameter: a field left at its default None is left out (KFP constants
    cannot hold null; the receiving model restores the default), a None set over another default stays."""
    fields = type(settings).model_fields
    return {
        key: value
        for key, value in settings.model_dump(mode="json").items()
        if value is not None or fields[key].default is not None
    }


def apply_overrides(
    model: dict[str, Any], training: dict[str, Any], overrides: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model and training settings with ``overrides`` (``section.field: value``) applied and validated; raises
    SpaceError naming the first override the settings refuse."""
    merged = {"model": dict(model), "training": dict(training)}
    for key, value in overrides.items():
        section, field = key.split(".", 1)
        merged[section][field] = value
    validated = {}
    for section, settings in SECTIONS.items():
        try:
            validated[section] = as_parameter(settings.model_validate(merged[section]))
        except ValidationError as error:
            problem = error.errors()[0]
            field = str(problem["loc"][0]) if problem["loc"] else ""
            key = f"{section}.{field}" if f"{section}.{field}" in overrides else next(iter(overrides), section)
            raise SpaceError(key, problem["msg"].removeprefix("Value error, ")) from None
    return validated["model"], validated["training"]


def typed_values(keys: list[str], model: dict[str, Any], training: dict[str, Any]) -> dict[str, Any]:
    """The values of the tuned ``keys`` in a trial's settings, typed by the settings models (after a trip through KFP
    parameters every number is a float: batch size 64.0, hidden units [32.0])."""
    validated = {"model": ModelSettings.model_validate(model), "training": TrainingSettings.model_validate(training)}
    return {key: getattr(validated[key.split(".", 1)[0]], key.split(".", 1)[1]) for key in keys}


def check_space(dimensions: list[Dimension], model: dict[str, Any], training: dict[str, Any]) -> None:
    """Every bound and choice of every dimension builds valid settings on top of the base ``model``/``training``;
    SpaceError naming the key otherwise."""
    for dimension in dimensions:
        for value in dimension.extremes():
            try:
                apply_overrides(model, training, {dimension.key: value})
            except SpaceError as error:
                raise SpaceError(dimension.key, f"{value!r}: {error.reason}") from None


def space_error(error: SpaceError, value: Any, title: str = "TuningSettings") -> ValidationError:
    """A ValidationError at ``space.<key>`` (relative to where a validator raises it), so messages name the key."""
    details = PydanticCustomError("value_error", "{reason}", {"reason": error.reason})
    problem = InitErrorDetails(type=details, loc=("space", error.key), input=value)
    return ValidationError.from_exception_data(title, [problem])


class TuningSettings(BaseModel):
    """The ``tuning`` section: trials, how many train at once, the sampler, its seed and the search space. The
    objective is always the validation AUC (the eval split), never the test split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trials: int = Field(ge=1, le=MAX_TRIALS)
    parallelism: int = Field(default=1, ge=1, description="trials training at the same time")
    sampler: Sampler = "random"
    seed: int = 0
    space: dict[str, dict[str, Any]] = Field(min_length=1, description="{section.field: {distribution: values}}")

    @field_validator("sampler", mode="before")
    @classmethod
    def _no_tpe(cls, sampler: Any) -> Any:
        if sampler == "tpe":
            raise ValueError(TPE_REFUSED)
        return sampler

    @model_validator(mode="after")
    def _consistent(self) -> TuningSettings:
        if self.parallelism > self.trials:
            raise ValueError(f"parallelism {self.parallelism} is above trials {self.trials}")
        try:
            dimensions = self.dimensions()
        except SpaceError as error:
            raise space_error(error, self.space.get(error.key)) from None
        if self.sampler == "grid":
            ranged = [d.key for d in dimensions if d.distribution != "choice"]
            if ranged:
                error = SpaceError(ranged[0], "the grid sampler needs {choice: [...]} for every setting")
                raise space_error(error, self.space[ranged[0]])
            size = 1
            for dimension in dimensions:
                size *= len(dimension.choices)
            if self.trials > size:
                raise ValueError(f"trials {self.trials} is above the grid's {size} points: they would repeat")
        return self

    def dimensions(self) -> list[Dimension]:
        """The space as Dimensions, sorted by key (so the YAML's order does not change the trials)."""
        return [parse_dimension(key, self.space[key]) for key in sorted(self.space)]
