"""The contract of the raw data: columns, their types, roles, transforms and missing-value rules.

This is the bottom layer of bigtrain. The run config (``pipelines.config``) embeds these models, and
components receive the columns as a plain dict (a KFP parameter) and re-validate it with
:func:`parse_columns`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ColumnType = Literal["float", "int", "string", "text"]  # text: free text, tokenized by the transform graph
Role = Literal["feature", "label", "key", "slice", "ignore"]
TransformKind = Literal["zscore", "scale_0_1", "log", "bucketize", "vocabulary", "hash", "identity", "tokens"]
MissingKind = Literal["mean", "mode", "fill", "quarantine"]
DataFormat = Literal["csv", "parquet", "jsonl", "tfrecord"]  # what ingest reads (tfrecord: of tf.Example)
DATA_FORMATS: tuple[str, ...] = DataFormat.__args__  # type: ignore[attr-defined]
LABEL_VALUES = (0, 1)  # a binary classifier's label; any other value quarantines its row (bad_label)

NUMERIC_TRANSFORMS = frozenset({"zscore", "scale_0_1", "log", "bucketize"})
CATEGORICAL_TRANSFORMS = frozenset({"bucketize", "vocabulary", "hash", "tokens"})
MAX_NGRAMS = 3
# Caps that catch a typo (an extra zero or three) at config time rather than as an out-of-memory step hours later.
MAX_HASH_BUCKETS = 1_000_000  # hash buckets of a column or a cross, and a vocabulary's OOV buckets
MAX_QUANTILE_BUCKETS = 10_000  # bucketize: quantile boundaries computed over the train split
MAX_VOCABULARY = 1_000_000  # vocabulary top_k and tokens vocab_size
MAX_TOKENS = 10_000  # tokens max_tokens: words kept per value
_TOKENS_PARAMS = ("vocab_size", "max_tokens", "ngrams")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transform(_Strict):
    """How a feature column is turned into model input.

    Written in YAML as a bare name (``zscore``) or a one-key mapping (``{bucketize: 10}``,
    ``{hash: 100}``, ``{vocabulary: {top_k: 100, oov_buckets: 1, min_frequency: 2}}``,
    ``{tokens: {vocab_size: 200, max_tokens: 8, ngrams: 2, oov_buckets: 1}}``).

    ``tokens`` (text columns only) lowercases the text, splits it on whitespace and punctuation, keeps the first
    ``max_tokens`` words, adds their n-grams up to ``ngrams`` words long, and maps each to an id of the
    ``vocab_size`` most frequent train tokens (others share ``oov_buckets`` ids): a bag of at most
    :attr:`token_slots` ids per value.
    """

    kind: TransformKind
    num_buckets: int | None = Field(default=None, ge=2, le=MAX_HASH_BUCKETS)
    top_k: int | None = Field(default=None, ge=1, le=MAX_VOCABULARY)
    oov_buckets: int = Field(default=1, ge=1, le=MAX_HASH_BUCKETS)
    min_frequency: int = Field(default=1, ge=1)
    vocab_size: int | None = Field(default=None, ge=1, le=MAX_VOCABULARY)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    ngrams: int | None = Field(default=None, ge=1, le=MAX_NGRAMS)

    @model_validator(mode="before")
    @classmethod
    def _from_yaml_shape(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"kind": value}
        if isinstance(value, dict) and "kind" not in value:
            if len(value) != 1:
                raise ValueError("a transform is a name or a mapping with exactly one key, e.g. {bucketize: 10}")
            ((kind, params),) = value.items()
            if kind in ("bucketize", "hash"):
                if isinstance(params, dict):
                    return {"kind": kind, **params}
                return {"kind": kind, "num_buckets": params}
            if params is None:
                return {"kind": kind}
            if not isinstance(params, dict):
                raise ValueError(f"'{kind}' takes a mapping of options, got {params!r}")
            return {"kind": kind, **params}
        return value

    @model_validator(mode="after")
    def _check_params(self) -> Transform:
        if self.kind in ("bucketize", "hash") and self.num_buckets is None:
            raise ValueError(f"'{self.kind}' needs a bucket count, e.g. {{{self.kind}: 10}}")
        if self.kind not in ("bucketize", "hash") and self.num_buckets is not None:
            raise ValueError(f"'{self.kind}' takes no bucket count")
        if self.kind == "bucketize" and self.num_buckets is not None and self.num_buckets > MAX_QUANTILE_BUCKETS:
            raise ValueError(f"bucketize takes at most {MAX_QUANTILE_BUCKETS} buckets, got {self.num_buckets}")
        given = [p for p in _TOKENS_PARAMS if getattr(self, p) is not None]
        if self.kind == "tokens":
            if self.vocab_size is None or self.max_tokens is None:
                raise ValueError(
                    "'tokens' needs vocab_size and max_tokens, e.g. {tokens: {vocab_size: 200, max_tokens: 8}}"
                )
            if self.top_k is not None or self.min_frequency != 1:
                raise ValueError("'tokens' takes vocab_size (not top_k) and no min_frequency")
            if self.ngrams is None:
                object.__setattr__(self, "ngrams", 1)
        elif given:
            raise ValueError(f"'{self.kind}' takes no {', '.join(given)} (only 'tokens' does)")
        return self

    @property
    def token_slots(self) -> int:
        """The width of a ``tokens`` bag: ids per value, i.e. every n-gram of ``max_tokens`` words (-1 pads)."""
        assert self.kind == "tokens" and self.max_tokens is not None and self.ngrams is not None
        return sum(max(0, self.max_tokens - n + 1) for n in range(1, self.ngrams + 1))

    @property
    def is_categorical(self) -> bool:
        """True when the transform yields integer ids fed to an embedding."""
        return self.kind in CATEGORICAL_TRANSFORMS


class Missing(_Strict):
    """What to do when a cell is empty: impute (mean, mode, fill) or quarantine the row.

    Written as ``mean``, ``mode``, ``quarantine`` or ``{fill: VALUE}``.
    """

    kind: MissingKind
    value: float | int | str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_yaml_shape(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"kind": value}
        if isinstance(value, dict) and "kind" not in value:
            if set(value) != {"fill"}:
                raise ValueError("write a missing rule as mean, mode, quarantine or {fill: VALUE}")
            return {"kind": "fill", "value": value["fill"]}
        return value

    @model_validator(mode="after")
    def _check_value(self) -> Missing:
        if self.kind == "fill" and self.value is None:
            raise ValueError("'fill' needs a value, e.g. {fill: 0}")
        if self.kind != "fill" and self.value is not None:
            raise ValueError(f"'{self.kind}' takes no value")
        return self


class ValueRange(_Strict):
    """The values a numeric column is expected to hold (``range: {min: 0, max: 120}``); data outside is an anomaly."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ValueRange:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class Clip(_Strict):
    """Outlier clipping at quantiles of the train split (``clip: {lower: 0.01, upper: 0.99}``), computed by
    tf.Transform, so serving clips exactly like training."""

    lower: float = Field(default=0.0, ge=0, lt=1)
    upper: float = Field(default=1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Clip:
        if self.lower >= self.upper:
            raise ValueError(f"lower {self.lower:g} must be below upper {self.upper:g}")
        if self.lower == 0 and self.upper == 1:
            raise ValueError("clipping at quantiles 0 and 1 changes nothing; give lower, upper or both")
        return self


class ColumnSpec(_Strict):
    """One column of the input table."""

    type: ColumnType
    role: Role = "feature"
    transform: Transform | None = None
    missing: Missing = Missing(kind="quarantine")
    range: ValueRange | None = None
    clip: Clip | None = None

    @model_validator(mode="after")
    def _check_role(self) -> ColumnSpec:
        if self.type == "text":
            self._check_text()
        if self.role == "feature":
            transform = self.transform or Transform(kind="identity" if self.type != "string" else "vocabulary")
            object.__setattr__(self, "transform", transform)
            if transform.kind == "tokens" and self.type != "text":
                raise ValueError(f"transform 'tokens' needs a text column, this one is {self.type}")
            if self.type == "string" and transform.kind in NUMERIC_TRANSFORMS:
                raise ValueError(f"transform '{transform.kind}' needs a numeric column, this one is a string")
            if self.type == "string" and transform.kind == "identity":
                raise ValueError("a string feature cannot pass through as-is; use vocabulary or hash")
        elif self.transform is not None:
            raise ValueError(f"a column with role '{self.role}' takes no transform")
        if self.role == "label":
            if self.type == "string":
                raise ValueError("the label must be numeric (0 or 1)")
            if self.missing.kind != "quarantine":
                raise ValueError("a missing label cannot be imputed; rows without one are quarantined")
        if self.role != "feature" and self.missing.kind in ("mean", "mode"):
            raise ValueError(
                f"'{self.missing.kind}' imputes features only; use fill or quarantine for a {self.role} column"
            )
        if self.missing.kind == "mean" and self.value_type == "string":
            raise ValueError("'mean' needs a numeric column; use mode or {fill: ...}")
        if self.missing.kind == "fill":
            object.__setattr__(self, "missing", Missing(kind="fill", value=_coerce_fill(self.type, self.missing.value)))
        if self.range is not None and self.value_type == "string":
            raise ValueError("range needs a numeric (float or int) column")
        if self.clip is not None and (self.role != "feature" or self.value_type == "string"):
            raise ValueError("clip applies to numeric feature columns only")
        return self

    def _check_text(self) -> None:
        if self.role in ("key", "label"):
            raise ValueError(f"a text column cannot have role {self.role}; declare it type: string (int for a label)")
        if self.role != "feature":
            return
        if self.transform is None:
            raise ValueError("a text feature needs transform: {tokens: {vocab_size: N, max_tokens: N}}")
        if self.transform.kind != "tokens":
            raise ValueError(f"transform '{self.transform.kind}' does not apply to a text column; use tokens")

    @property
    def value_type(self) -> Literal["float", "int", "string"]:
        """How a cell is typed and stored (a text column holds strings, like a string column)."""
        return "string" if self.type == "text" else self.type

    @property
    def required(self) -> bool:
        """True when a row missing this column is quarantined (and serving must supply it)."""
        return self.missing.kind == "quarantine"


def _coerce_fill(column_type: ColumnType, value: Any) -> float | int | str:
    if column_type in ("string", "text"):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"fill value {value!r} is not a number but the column is {column_type}") from None
    if not math.isfinite(number):
        raise ValueError(f"fill value {value!r} must be finite")
    if column_type == "int":
        if number != int(number):
            raise ValueError(f"fill value {value!r} is not an integer but the column is int")
        return int(number)
    return number


class Columns(BaseModel):
    """All columns of the input, in input order, with exactly one label."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    columns: dict[str, ColumnSpec]

    @field_validator("columns")
    @classmethod
    def _check_roles(cls, columns: dict[str, ColumnSpec]) -> dict[str, ColumnSpec]:
        if not columns:
            raise ValueError("list every column of the input")
        for name in columns:
            if not name.replace("_", "a").isalnum() or name[0].isdigit() or name.startswith("_"):
                raise ValueError(f"column name '{name}' must be letters, digits and _ and not start with a digit or _")
        labels = [n for n, c in columns.items() if c.role == "label"]
        if len(labels) != 1:
            raise ValueError(f"exactly one column needs role: label, found {len(labels)}")
        keys = [n for n, c in columns.items() if c.role == "key"]
        if len(keys) > 1:
            raise ValueError(f"at most one column may have role: key, found {keys}")
        if not any(c.role == "feature" for c in columns.values()):
            raise ValueError("at least one column needs role: feature")
        return columns

    @property
    def label(self) -> str:
        """Name of the label column."""
        return next(n for n, c in self.columns.items() if c.role == "label")

    @property
    def key(self) -> str | None:
        """Name of the key column used for the split, if any."""
        return next((n for n, c in self.columns.items() if c.role == "key"), None)

    @property
    def features(self) -> dict[str, ColumnSpec]:
        """The model's input columns."""
        return {n: c for n, c in self.columns.items() if c.role == "feature"}

    @property
    def kept(self) -> dict[str, ColumnSpec]:
        """Columns that survive cleaning into the raw examples (all but ignored)."""
        return {n: c for n, c in self.columns.items() if c.role != "ignore"}


class Cross(_Strict):
    """A feature cross: the combined values of two or more columns, hashed into ``hash`` buckets
    (``{cross: [region, plan], hash: 100}``). Its model input is named :attr:`name`.

    String and int columns take part with their value (after imputation and clipping), bucketized columns with their
    bucket id. A float column must be bucketized to be crossed: raw floats rarely repeat, so their cross would be noise.
    """

    cross: list[str] = Field(min_length=2)
    hash: int = Field(ge=2, le=MAX_HASH_BUCKETS)

    @field_validator("cross")
    @classmethod
    def _distinct(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError("list distinct columns")
        return names

    @property
    def name(self) -> str:
        """The crossed feature's name: the columns joined by ``_x_``."""
        return "_x_".join(self.cross)


class CrossError(ValueError):
    """A cross that does not fit the columns; ``index`` is its position in the list."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"crosses[{index}]: {reason}")
        self.index = index
        self.reason = reason


def check_crosses(crosses: list[Cross], columns: Columns) -> None:
    """Raise CrossError when a cross names a column that is not a feature or is an unbucketized float, or its name is
    taken."""
    seen: set[str] = set()
    for index, cross in enumerate(crosses):
        for name in cross.cross:
            spec = columns.columns.get(name)
            if spec is None:
                raise CrossError(index, f"no column named {name!r}")
            if spec.role != "feature":
                raise CrossError(index, f"{name!r} is a {spec.role} column; cross feature columns only")
            kind = spec.transform.kind if spec.transform else None
            if spec.type == "text":
                raise CrossError(index, f"{name!r} is a text column; cross string, int or bucketized columns")
            if spec.type == "float" and kind != "bucketize":
                raise CrossError(
                    index,
                    f"{name!r} is a float column with transform {kind}; cross it bucketized "
                    "(transform: {bucketize: N}), or cross string and int columns",
                )
        if cross.name in columns.columns:
            raise CrossError(index, f"its feature name {cross.name!r} is already a column")
        if cross.name in seen:
            raise CrossError(index, f"{cross.cross} is listed twice")
        seen.add(cross.name)


def parse_crosses(raw: list[Any], columns: Columns) -> list[Cross]:
    """Validate crosses (as found in the run config or a KFP parameter) against the columns."""
    crosses = [Cross.model_validate(item) for item in raw]
    check_crosses(crosses, columns)
    return crosses


def parse_columns(raw: dict[str, Any]) -> Columns:
    """Validate a columns mapping (as found in the run config or a KFP parameter)."""
    return Columns(columns=raw)


def columns_to_dict(columns: Columns) -> dict[str, Any]:
    """A JSON-safe, canonical form of the columns, which :func:`parse_columns` reads back."""
    return {name: spec.model_dump(mode="json", exclude_none=True) for name, spec in columns.columns.items()}
