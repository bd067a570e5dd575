"""The typed run config: one YAML file drives a run. Errors name the field and say why."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import TypedDict

from beam_jobs.contract import Columns, ColumnSpec, Cross, CrossError, DataFormat, check_crosses, columns_to_dict
from beam_jobs.sources import SPAN_TOKEN, SpanSelection, check_span_name
from components.evaluate.slicing import SliceError, parse_slices
from components.evaluate.tfma_config import (
    DEFAULT_DECISION_THRESHOLD,
    DEFAULT_MIN_SLICE_SIZE,
    THRESHOLD_METRICS,
    bound_error,
)
from components.push.registry import MODEL_NAME_PATTERN
from components.train.settings import ModelSettings, TrainingSettings
from components.tune.space import SpaceError, TuningSettings, check_space
from pipelines.cluster_config import ClusterConfig, NotifyConfig, url_scheme


class ConfigError(ValueError):
    """A run config that cannot be used; the message names the field."""


class DuplicateKeyError(yaml.YAMLError):
    """A YAML mapping that lists a key twice (plain YAML keeps the last one, so a column could silently vanish)."""

    def __init__(self, key: Any, line: int, first_line: int) -> None:
        super().__init__(f"line {line}: duplicated key {key!r} (first on line {first_line}); a key may appear once")
        self.key, self.line, self.first_line = key, line, first_line


class UniqueKeyLoader(yaml.SafeLoader):
    """The safe YAML loader, refusing a mapping that repeats a key (merge keys ``<<`` may still be overridden)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise DuplicateKeyError(key, line, seen[key])
                seen[key] = line
            except TypeError:  # an unhashable key: SafeLoader's own error says so
                break
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """Parse YAML text with the safe loader, refusing duplicated keys (DuplicateKeyError, a yaml.YAMLError)."""
    loader = UniqueKeyLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    source: str = Field(min_length=1, description="file glob, local or object-store URL; may contain {SPAN}")
    format: DataFormat = "csv"
    spans: SpanSelection = Field(
        default="latest",
        description="with {SPAN} in source: latest, N (the newest N spans), or a list of span names",
    )
    dedupe: Literal["key"] | None = Field(
        default=None, description="key: keep one row per key column value, quarantine the rest as duplicate_key"
    )

    @field_validator("spans", mode="before")
    @classmethod
    def _span_names(cls, spans: Any) -> Any:
        if isinstance(spans, list):  # YAML reads 2026-11-28 as a date and 0042 as 42: spans are names
            return [item.isoformat() if hasattr(item, "isoformat") else str(item) for item in spans]
        return spans

    @field_validator("spans")
    @classmethod
    def _valid_span_names(cls, spans: SpanSelection) -> SpanSelection:
        if isinstance(spans, list):
            if not spans:
                raise ValueError("list at least one span")
            if len(set(spans)) != len(spans):
                raise ValueError("list distinct spans")
            for name in spans:
                check_span_name(name)
        return spans

    @model_validator(mode="after")
    def _spans_need_a_span_source(self) -> DataConfig:
        if self.spans != "latest" and SPAN_TOKEN not in self.source:
            reason = f"choosing spans needs {SPAN_TOKEN} in data.source"
            raise _field_error("DataConfig", ("spans",), reason, self.spans)
        return self


class SplitConfig(_Section):
    train: float = Field(gt=0, lt=1)
    eval: float = Field(gt=0, lt=1)
    test: float = Field(ge=0, lt=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitConfig:
        total = self.train + self.eval + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + eval + test must be 1.0, got {total:g}")
        return self


# The model and training sections are the train step's own settings models (validated again on arrival there).
ModelConfig = ModelSettings
TrainingConfig = TrainingSettings
# The tuning section is the suggest step's own settings model (validated again on arrival there).
TuningConfig = TuningSettings


# Every gated metric is a share or a probability in [0, 1], except log_loss: a cross-entropy, from 0 up, unbounded.
_UNBOUNDED_ABOVE = frozenset({"log_loss"})


def metric_range(metric: str) -> tuple[float, float]:
    """The values a gated metric can take (and so its thresholds, and a bounded metric's ``max_drop``)."""
    return (0.0, math.inf if metric in _UNBOUNDED_ABOVE else 1.0)


def threshold_range_error(metric: str, bounds: dict[str, float | None]) -> tuple[str, str] | None:
    """The first bound outside ``metric``'s range, as (field, why): such a gate always or never passes."""
    low, high = metric_range(metric)
    shown = f"lies in [{low:g}, {high:g}]" if math.isfinite(high) else f"is {low:g} or more"
    for field, value in bounds.items():
        if value is None or field not in ("min", "max", "max_drop"):
            continue
        if not math.isfinite(value) or not low <= value <= high:
            what = f"a change of {metric}" if field == "max_drop" else metric
            return field, f"{value:g} is out of range: {what} {shown}"
    return None


class Threshold(_Section):
    """An overall gate. `min` bounds higher-is-better metrics, `max` lower-is-better ones (log_loss); `max_drop` is
    the allowed worsening vs the baseline (a drop, or a rise for log_loss), checked only when a baseline exists."""

    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _something(self) -> Threshold:
        if self.min is None and self.max is None and self.max_drop is None:
            raise ValueError("give min (or max for log_loss), max_drop, or both")
        return self


class SliceThreshold(_Section):
    """A value gate on every slice of `slice`'s columns that has min_slice_size examples and both classes. A bucketed
    column is named by its column: `slice: [hour]` gates the slices of `{column: hour, buckets: 6}`."""

    slice: list[str] = Field(min_length=1)
    metric: str
    min: float | None = None
    max: float | None = None

    @field_validator("slice", mode="before")
    @classmethod
    def _names_only(cls, columns: Any) -> Any:
        for column in columns if isinstance(columns, list) else ():
            if isinstance(column, dict) and "column" in column:
                raise ValueError(f"name the column only, e.g. slice: [{column['column']}], also when it is bucketed")
        return columns

    @field_validator("slice")
    @classmethod
    def _distinct(cls, columns: list[str]) -> list[str]:
        if len(set(columns)) != len(columns):
            raise ValueError("list distinct columns")
        return columns

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in THRESHOLD_METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(THRESHOLD_METRICS)}")
        return metric

    @model_validator(mode="after")
    def _direction(self) -> SliceThreshold:
        if self.min is None and self.max is None:
            raise ValueError("give min (or max for log_loss)")
        problem = bound_error(self.metric, {"min": self.min, "max": self.max})
        if problem:
            raise ValueError(problem)
        outside = threshold_range_error(self.metric, {"min": self.min, "max": self.max})
        if outside:
            raise _field_error("SliceThreshold", (outside[0],), outside[1], getattr(self, outside[0]))
        return self


def _field_error(title: str, loc: tuple[int | str, ...], reason: str, value: Any) -> ValidationError:
    """A ValidationError at `loc` (relative to where a validator raises it), so the message names that field."""
    error = PydanticCustomError("value_error", "{reason}", {"reason": reason})
    return ValidationError.from_exception_data(title, [InitErrorDetails(type=error, loc=loc, input=value)])


class BucketedSlice(TypedDict):
    """A numeric column sliced into `buckets` equal-width ranges (components.evaluate.slicing). A plain dict in the
    validated config, so the slices stay a JSON KFP parameter as they are."""

    column: str
    buckets: int


def _slice_column(column: str | BucketedSlice) -> str:
    """The column a configured slice column names (bucketed or not)."""
    return column if isinstance(column, str) else column["column"]


class EvaluationConfig(_Section):
    slices: list[list[str | BucketedSlice]] = Field(
        default_factory=list,
        description="column lists (crosses); a column is a name or {column, buckets}; a bare {column, buckets} is "
        "a one-column slice. Stored as lists: [[region], [{column: hour, buckets: 6}]]",
    )
    thresholds: dict[str, Threshold]
    decision_threshold: float = Field(
        default=DEFAULT_DECISION_THRESHOLD,
        gt=0,
        lt=1,
        description="score above which a prediction is positive: accuracy, precision, recall, f1, confusion matrix",
    )
    min_slice_size: int = Field(
        default=DEFAULT_MIN_SLICE_SIZE, ge=1, description="smaller slices are flagged, never gated on"
    )
    slice_thresholds: list[SliceThreshold] = Field(default_factory=list)

    @field_validator("thresholds")
    @classmethod
    def _known_metrics(cls, thresholds: dict[str, Threshold]) -> dict[str, Threshold]:
        if not thresholds:
            raise ValueError("set at least one threshold: without one no model is ever blessed")
        unknown = sorted(set(thresholds) - set(THRESHOLD_METRICS))
        if unknown:
            raise ValueError(f"unknown metric {unknown[0]!r}; expected one of {', '.join(THRESHOLD_METRICS)}")
        for name, threshold in thresholds.items():
            problem = bound_error(name, threshold.model_dump())
            if problem:
                raise ValueError(problem)
            outside = threshold_range_error(name, threshold.model_dump())
            if outside:
                raise _field_error("thresholds", (name, outside[0]), outside[1], getattr(threshold, outside[0]))
        return thresholds

    @field_validator("slices", mode="before")
    @classmethod
    def _parse_slices(cls, raw: Any) -> Any:
        """Check each slice (errors name e.g. slices[2].buckets) and store it as a list of names and dicts."""
        if not isinstance(raw, list):
            return raw  # pydantic says it is not a list
        try:
            specs = parse_slices(raw)
        except SliceError as error:
            raise _field_error("slices", error.loc, error.reason, raw[error.loc[0]]) from None
        return [spec.to_json() for spec in specs]

    @model_validator(mode="after")
    def _slice_thresholds_on_configured_slices(self) -> EvaluationConfig:
        configured = {frozenset(map(_slice_column, columns)) for columns in self.slices}
        for index, gate in enumerate(self.slice_thresholds):
            if frozenset(gate.slice) not in configured:
                raise ValueError(
                    f"slice_thresholds[{index}].slice: {gate.slice} is not one of evaluation.slices; add it there"
                )
        return self


class PushConfig(_Section):
    serving_root: str = Field(min_length=1)
    model_name: str = Field(pattern=MODEL_NAME_PATTERN)

    @field_validator("serving_root")
    @classmethod
    def _posix_volume(cls, root: str) -> str:
        if url_scheme(root):
            raise ValueError(
                "an object-store serving root is not supported: publishing a version atomically needs a POSIX "
                "volume (lock + rename); use a local path, and on Kubeflow a ReadWriteMany PVC (cluster.serving)"
            )
        return root


class Limit(_Section):
    """When a data statistic is reported (``warn``) and when it stops the run before training (``stop``)."""

    warn: float | None = Field(default=None, ge=0)
    stop: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Limit:
        if self.warn is not None and self.stop is not None and self.warn > self.stop:
            raise ValueError(f"warn {self.warn:g} is above stop {self.stop:g}")
        return self


class DriftConfig(_Section):
    """Limits on how far this run's train data may move from the data behind the served model."""

    categorical_linf: Limit = Limit(warn=0.1, stop=0.3)
    numeric_js: Limit = Limit(warn=0.1, stop=0.3)
    missing_ratio_jump: Limit = Limit(warn=0.05, stop=0.3)
    new_values_share: Limit = Limit(warn=0.05, stop=0.3)


class ValidationConfig(_Section):
    """Data validation before training: against the config, and against the served model's data (drift)."""

    quarantined_share: Limit = Field(
        default=Limit(warn=0.01, stop=0.5), description="share of input rows quarantined, any reason"
    )
    out_of_range_share: Limit = Field(
        default=Limit(warn=0.0, stop=0.01), description="share of a column's values outside its configured range"
    )
    drift: DriftConfig = DriftConfig()


class BeamConfig(_Section):
    runner: str = "DirectRunner"
    options: list[str] = Field(default_factory=list, description="extra Beam pipeline flags")


class RunConfig(_Section):
    """Everything one run needs. Build with :func:`load_config`."""

    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
    data: DataConfig
    columns: dict[str, ColumnSpec]
    crosses: list[Cross] = Field(default_factory=list, description="feature crosses: [{cross: [a, b], hash: N}]")
    split: SplitConfig
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    evaluation: EvaluationConfig
    push: PushConfig
    validation: ValidationConfig = ValidationConfig()
    beam: BeamConfig = BeamConfig()
    cluster: ClusterConfig | None = None
    notify: NotifyConfig = NotifyConfig()
    tuning: TuningConfig | None = Field(default=None, description="hyperparameter search: trials over model/training")

    @field_validator("columns")
    @classmethod
    def _columns_contract(cls, columns: dict[str, ColumnSpec]) -> dict[str, ColumnSpec]:
        Columns(columns=columns)
        return columns

    @model_validator(mode="after")
    def _crosses_and_dedupe(self) -> RunConfig:
        try:
            check_crosses(self.crosses, self.contract)
        except CrossError as error:
            raise _field_error("RunConfig", ("crosses", error.index), error.reason, None) from None
        if self.data.dedupe == "key" and self.contract.key is None:
            raise _field_error("RunConfig", ("data", "dedupe"), "dedupe: key needs a column with role: key", "key")
        return self

    @model_validator(mode="after")
    def _tuning_space_fits_the_settings(self) -> RunConfig:
        """Every bound and choice of the search space builds valid model and training settings."""
        if self.tuning is not None:
            dimensions = self.tuning.dimensions()
            base = self.model.model_dump(mode="json"), self.training.model_dump(mode="json")
            try:
                check_space(dimensions, *base)
            except SpaceError as error:
                raise _field_error("RunConfig", ("tuning", "space", error.key), error.reason, None) from None
        return self

    @model_validator(mode="after")
    def _slices_exist(self) -> RunConfig:
        """Slice columns exist and are not ignored or the label; bucketed ones are numeric (float or int)."""
        for index, columns in enumerate(self.evaluation.slices):
            for position, column in enumerate(columns):
                name = _slice_column(column)
                loc: tuple[int | str, ...] = ("evaluation", "slices", index)
                if not isinstance(column, str):  # a bucketed column: name its field
                    loc = (*loc, *((position,) if len(columns) > 1 else ()), "column")
                spec = self.columns.get(name)
                problem = None
                if spec is None:
                    problem = f"no column named {name!r}"
                elif spec.role in ("ignore", "label"):
                    problem = f"cannot slice on {spec.role} column {name!r}"
                elif not isinstance(column, str) and spec.type not in ("float", "int"):
                    problem = f"{name!r} is a {spec.type} column: buckets need a numeric (float or int) column"
                if problem:
                    raise _field_error("RunConfig", loc, problem, column)
        return self

    @property
    def contract(self) -> Columns:
        """The columns as the data contract the Beam jobs use."""
        return Columns(columns=self.columns)

    def columns_dict(self) -> dict[str, Any]:
        """The columns as a JSON-safe dict, for KFP parameters."""
        return columns_to_dict(self.contract)

    def crosses_list(self) -> list[dict[str, Any]]:
        """The feature crosses as JSON-safe dicts, for KFP parameters."""
        return [cross.model_dump(mode="json") for cross in self.crosses]

    def config_hash(self) -> str:
        """A stable hash of the whole validated config (a config without tuning hashes as before tuning existed)."""
        unset = {"tuning"} if self.tuning is None else set()
        canonical = json.dumps(self.model_dump(mode="json", exclude=unset), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _resolve(path: str, base: Path) -> str:
    if url_scheme(path) or os.path.isabs(path):
        return path
    return str((base / path).resolve())


def _field_name(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif str(item).startswith(("function-", "Transform", "Missing")):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def format_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem: ``source: field.path: why``."""
    lines = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown field"
        elif problem["type"] == "missing":
            message = "required field is missing"
        lines.append(f"{source}: {_field_name(problem['loc'])}: {message}")
    return "\n".join(lines)


def parse_config(raw: Any, source: str = "config", base_dir: Path | None = None) -> RunConfig:
    """Validate a parsed YAML mapping; relative paths resolve against ``base_dir`` (default: cwd)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a YAML mapping")
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source)) from None
    base = base_dir or Path.cwd()
    return config.model_copy(
        update={
            "data": config.data.model_copy(update={"source": _resolve(config.data.source, base)}),
            "push": config.push.model_copy(update={"serving_root": _resolve(config.push.serving_root, base)}),
        }
    )


def load_config(path: str | os.PathLike[str], base_dir: Path | None = None) -> RunConfig:
    """Read and validate a YAML run config. Relative paths in it resolve against the current directory."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: config file not found")
    try:
        raw = load_yaml(file.read_text())
    except DuplicateKeyError as error:
        raise ConfigError(f"{file}: {error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: not valid YAML: {error}") from None
    return parse_config(raw, source=str(file), base_dir=base_dir)
