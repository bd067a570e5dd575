"""Evaluation slices: the configured slices, and numeric columns sliced into buckets inside TFMA.

A slice is a list of columns (one column, or a cross of several). A column is a name (one slice per value) or
``{column: hour, buckets: 6}`` (one slice per range of a numeric column); a slice that is a single bucketed column
may be written without the list. As a KFP parameter the slices are JSON: lists of names and ``{column, buckets}``.

A bucketed column keeps its name as the TFMA feature key, so its slices read ``hour=[0;4)`` … ``hour=[20;23]``,
crosses ``region=north,hour=[0;4)``, and a slice_threshold gates it with ``slice: [hour]``. Hence a column is
sliced one way across all slices: by value, or in one number of buckets. The bounds are separated by ``;`` (the
ISO 80000-2 interval notation for when ``,`` is taken): ``,`` separates the columns of a crossed slice's name.

Bucket boundaries are equal-width over the observed [min, max] of the evaluated split (see :func:`equal_width`),
found by one cheap pass that parses only the bucketed columns (:func:`observed_ranges`). The buckets are assigned
inside the TFMA Beam pipeline by an extractor placed just before TFMA's slice-key extractor
(:func:`with_bucket_extractor`), so the work runs on the Beam workers like the rest of the evaluation.

Importing this module is cheap: NumPy, TensorFlow and TFMA load inside the functions that need them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

BUCKET_KEYS = ("column", "buckets")
BUCKET_STAGE_NAME = "BucketNumericSliceFeatures"
_SHAPE = "{column: <name>, buckets: <N>}"


# ---- the configured slices --------------------------------------------------------------------------------------


class SliceError(ValueError):
    """A configured slice that cannot be evaluated. `loc` is its path under `slices`, e.g. (2, "buckets")."""

    def __init__(self, loc: tuple[int | str, ...], reason: str) -> None:
        self.loc = loc
        self.reason = reason
        super().__init__(f"slices{format_loc(loc)}: {reason}")


def format_loc(loc: Iterable[int | str]) -> str:
    """(2, 0, "buckets") -> "[2][0].buckets"."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


@dataclass(frozen=True)
class Bucketed:
    """A numeric column sliced into at most `buckets` equal-width ranges."""

    column: str
    buckets: int

    def to_json(self) -> dict[str, Any]:
        """The KFP/YAML form, {"column": ..., "buckets": ...}."""
        return {"column": self.column, "buckets": self.buckets}


SliceColumn: TypeAlias = "str | Bucketed"


def column_name(column: SliceColumn) -> str:
    """The feature key TFMA slices on: the column's own name, bucketed or not."""
    return column if isinstance(column, str) else column.column


@dataclass(frozen=True)
class SliceSpec:
    """One configured slice: its columns in configured order (a cross when more than one)."""

    columns: tuple[SliceColumn, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """Column names in configured order: the TFMA feature keys and the slice_threshold spelling."""
        return tuple(column_name(column) for column in self.columns)

    def to_json(self) -> list[str | dict[str, Any]]:
        """The KFP parameter form: a list of names and {"column", "buckets"} mappings."""
        return [column if isinstance(column, str) else column.to_json() for column in self.columns]


def _bucket_count(raw: Any, loc: tuple[int | str, ...]) -> int:
    """An int >= 2. KFP carries JSON numbers as floats, so an integral float (6.0) counts as an int."""
    integral = isinstance(raw, int) or (isinstance(raw, float) and math.isfinite(raw) and raw.is_integer())
    if isinstance(raw, bool) or not integral or int(raw) < 2:
        raise SliceError(loc, f"must be an integer >= 2, got {raw!r}")
    return int(raw)


def _parse_column(raw: Any, loc: tuple[int | str, ...]) -> SliceColumn:
    """A column name, or a {column, buckets} mapping checked key by key."""
    if isinstance(raw, str):
        if not raw:
            raise SliceError(loc, "a column name cannot be empty")
        return raw
    if isinstance(raw, Bucketed):
        return _parse_column(raw.to_json(), loc)
    if not isinstance(raw, Mapping):
        raise SliceError(loc, f"must be a column name or {_SHAPE}, got {raw!r}")
    for key in raw:
        if key not in BUCKET_KEYS:
            raise SliceError((*loc, str(key)), f"unknown key; a bucketed column is {_SHAPE}")
    for key in BUCKET_KEYS:
        if key not in raw:
            raise SliceError((*loc, key), f"required: a bucketed column is {_SHAPE}")
    column = raw["column"]
    if not isinstance(column, str) or not column:
        raise SliceError((*loc, "column"), f"must be a column name, got {column!r}")
    return Bucketed(column, _bucket_count(raw["buckets"], (*loc, "buckets")))


def _describe(column: SliceColumn) -> str:
    return "by value" if isinstance(column, str) else f"in {column.buckets} buckets"


def parse_slices(raw: Iterable[Any]) -> list[SliceSpec]:
    """Validate configured slices (the YAML or KFP form, or SliceSpecs) into SliceSpecs.

    Raises SliceError naming the entry (e.g. ``slices[2].buckets``) for an empty slice, a repeated column, a bad
    {column, buckets} mapping, or a column sliced two ways (by value here and in buckets there, or in two counts).
    """
    specs: list[SliceSpec] = []
    first_use: dict[str, tuple[int, SliceColumn]] = {}
    for index, entry in enumerate(raw):
        if isinstance(entry, SliceSpec):
            entry = list(entry.columns)
        if isinstance(entry, Mapping | Bucketed):
            columns: tuple[SliceColumn, ...] = (_parse_column(entry, (index,)),)
            locs: list[tuple[int | str, ...]] = [(index,)]
        elif isinstance(entry, list | tuple):
            if not entry:
                raise SliceError((index,), "empty slice: the overall slice is always evaluated, list only columns")
            locs = [(index, position) for position in range(len(entry))]
            columns = tuple(_parse_column(item, loc) for item, loc in zip(entry, locs, strict=True))
        else:
            raise SliceError((index,), f"must be a list of columns or {_SHAPE}, got {entry!r}")
        spec = SliceSpec(columns)
        if len(set(spec.keys)) != len(spec.keys):
            raise SliceError((index,), "list distinct columns")
        for column, loc in zip(columns, locs, strict=True):
            seen_at, seen = first_use.setdefault(column_name(column), (index, column))
            if seen != column:
                raise SliceError(
                    loc,
                    f"column {column_name(column)!r} is sliced {_describe(seen)} in slices[{seen_at}]: slice a "
                    "column one way (by value, or in one number of buckets) so its slice names and gates are "
                    "unambiguous",
                )
        specs.append(spec)
    return specs


def bucketed_columns(specs: Iterable[SliceSpec]) -> dict[str, int]:
    """Column -> number of buckets, for every bucketed column of the slices."""
    return {c.column: c.buckets for spec in specs for c in spec.columns if isinstance(c, Bucketed)}


# ---- bucket boundaries ------------------------------------------------------------------------------------------


def _near_integer(value: float) -> int | None:
    """The integer `value` is within float noise of, else None."""
    nearest = round(value)
    return nearest if math.isclose(value, nearest, rel_tol=1e-9, abs_tol=1e-9) else None


def _round_down(value: float, decimals: int) -> float:
    scaled = value * 10.0**decimals
    steps = _near_integer(scaled)
    return round((steps if steps is not None else math.floor(scaled)) / 10.0**decimals, decimals) + 0.0


def _round_up(value: float, decimals: int) -> float:
    scaled = value * 10.0**decimals
    steps = _near_integer(scaled)
    return round((steps if steps is not None else math.ceil(scaled)) / 10.0**decimals, decimals) + 0.0


@dataclass(frozen=True)
class Buckets:
    """The ranges one numeric column is sliced into: bucket i is [edges[i], edges[i+1]), the last one closed.

    Values below edges[1] fall in the first bucket and values from edges[-2] on in the last one (the edges come from
    the evaluated split itself, so no value lies outside [edges[0], edges[-1]]); missing values and NaN fall in none.
    """

    column: str
    edges: tuple[float, ...]
    integer: bool
    decimals: int = 0  # float edges are shown with max(decimals, 0) places

    def _text(self, value: float) -> str:
        if self.integer:
            return str(int(value))
        return f"{value:.{max(self.decimals, 0)}f}"

    @cached_property
    def labels(self) -> tuple[str, ...]:
        """The slice values in order, e.g. ("[0;4)", "[4;8)", ..., "[20;23]")."""
        last = len(self.edges) - 2
        return tuple(
            f"[{self._text(low)};{self._text(high)}{']' if i == last else ')'}"
            for i, (low, high) in enumerate(zip(self.edges, self.edges[1:], strict=False))
        )

    def assign(self, values: Any) -> np.ndarray | None:
        """The distinct bucket labels (bytes, like a raw string feature) of one example's values; None without any."""
        import numpy as np

        if values is None:
            return None
        array = np.asarray(values).reshape(-1)
        if array.size and array.dtype.kind == "f":
            array = array[~np.isnan(array)]
        if array.size == 0 or array.dtype.kind not in "iuf":
            return None
        inner = np.asarray(self.edges[1:-1], dtype=array.dtype)  # compare in the feature's own precision
        positions = np.unique(np.searchsorted(inner, array, side="right"))
        return np.array([self._encoded[p] for p in positions], dtype=object)

    @cached_property
    def _encoded(self) -> tuple[bytes, ...]:
        return tuple(label.encode() for label in self.labels)


def equal_width(column: str, buckets: int, low: float, high: float, integer: bool) -> Buckets:
    """At most `buckets` equal-width ranges over [low, high] (the observed min and max).

    Integer columns: the high - low + 1 possible values split into `buckets` runs whose lengths differ by at most one
    (edge k at low + floor(k * count / buckets)), the last bucket closed at high: hour 0..23 in 6 gives [0;4) [4;8)
    ... [20;23]; a range of fewer values than buckets gives one bucket per value.
    Float columns: width (high - low) / buckets, every edge rounded to two significant digits of the width (the
    first one down, the last one up), and the rounded edges are the boundaries used and shown, with no more places
    than they need: age 18.3..79.9 in 4 gives [18;34) [34;49) [49;64) [64;80]; 0.1..0.4 in 3 gives [0.1;0.2) [0.2;0.3)
    [0.3;0.4]. A constant column is one bucket [low;low].
    """
    if buckets < 2:
        raise ValueError(f"buckets must be >= 2, got {buckets}")
    if high < low:
        raise ValueError(f"{column}: max {high} is below min {low}")
    if integer:
        first, count = int(low), int(high) - int(low) + 1
        inner = sorted({first + k * count // buckets for k in range(1, buckets)} - {first})
        return Buckets(column, (first, *inner, int(high)), integer=True)
    if high == low:
        return Buckets(column, (low, high), integer=False, decimals=_shortest_decimals(low))
    width = (high - low) / buckets
    decimals = 1 - math.floor(math.log10(width))
    inner = [round(low + k * width, decimals) + 0.0 for k in range(1, buckets)]
    edges = (_round_down(low, decimals), *inner, _round_up(high, decimals))
    while decimals > 0 and all(round(edge, decimals - 1) == edge for edge in edges):
        decimals -= 1  # show 0.1, not 0.10, when every edge has fewer places
    return Buckets(column, edges, integer=False, decimals=decimals)


def _shortest_decimals(value: float) -> int:
    """Decimal places of the shortest text of `value` (at most 6)."""
    text = f"{value:.6f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


# ---- the boundary pass over the evaluated split -----------------------------------------------------------------


@dataclass(frozen=True)
class ObservedRange:
    """The min and max of one column's values in the evaluated split, and whether they are integers."""

    low: float
    high: float
    integer: bool


def _column_values(serialized: Any, column: str, dtype: Any) -> np.ndarray:
    """Every value of one column in a batch of serialized tf.Examples (NaN dropped)."""
    import numpy as np
    import tensorflow as tf

    values = tf.io.parse_example(serialized, {column: tf.io.VarLenFeature(dtype)})[column].values.numpy()
    return values[~np.isnan(values)] if values.dtype.kind == "f" else values


def _numeric_values(serialized: Any, column: str, dtype: Any) -> tuple[np.ndarray, Any]:
    """One column's values in a batch and their type: `dtype` when known, else int64 or float32, whichever parses."""
    import tensorflow as tf

    for candidate in [dtype] if dtype is not None else [tf.int64, tf.float32]:
        try:
            return _column_values(serialized, column, candidate), candidate
        except tf.errors.InvalidArgumentError:
            continue
    raise ValueError(f"bucketed slice column {column!r} does not hold int64 or float values throughout")


def observed_ranges(examples_pattern: str, columns: Iterable[str], batch_size: int = 8192) -> dict[str, ObservedRange]:
    """Min and max of each column over the tf.Example TFRecords matching examples_pattern (gzip by the .gz suffix).

    The cost is one read of the files in this process, parsing only `columns` (tf.data reads the files in parallel,
    tf.io.parse_example decodes a batch at a time in C++); no model runs. The value type comes from the data (int64
    or float32). Columns with no value anywhere are left out; ValueError for a column that is not numeric.
    """
    import tensorflow as tf

    columns = list(dict.fromkeys(columns))
    files = sorted(tf.io.gfile.glob(examples_pattern))
    if not columns or not files:
        return {}
    compression = "GZIP" if all(name.endswith(".gz") for name in files) else ""
    dataset = (
        tf.data.TFRecordDataset(files, compression_type=compression, num_parallel_reads=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    dtypes: dict[str, Any] = {}  # fixed by the first batch holding values of the column
    lows: dict[str, float] = {}
    highs: dict[str, float] = {}
    for batch in dataset:
        for column in columns:
            values, dtype = _numeric_values(batch, column, dtypes.get(column))
            if values.size:
                dtypes[column] = dtype
                low, high = values.min().item(), values.max().item()
                lows[column] = min(low, lows.get(column, low))
                highs[column] = max(high, highs.get(column, high))
    ranges = {}
    for column, dtype in dtypes.items():
        integer = dtype == tf.int64
        ranges[column] = ObservedRange(*_readable(lows[column], highs[column], integer), integer)
    return ranges


def _readable(low: float, high: float, integer: bool) -> tuple[float, float]:
    """Float32 values as the shortest decimals that round-trip (79.9, not 79.90000152587891)."""
    if integer:
        return low, high
    import numpy as np

    return float(str(np.float32(low))), float(str(np.float32(high)))


def compute_buckets(examples_pattern: str, columns: Mapping[str, int]) -> dict[str, Buckets]:
    """Equal-width buckets (column -> number of buckets) from one boundary pass over the evaluated split.

    A column with no value in the split gets no buckets (its slices are simply empty), with a warning.
    """
    ranges = observed_ranges(examples_pattern, columns)
    for column in columns:
        if column not in ranges:
            logger.warning("bucketed slice column %r has no values in %s: no slices for it", column, examples_pattern)
    return {
        column: equal_width(column, columns[column], found.low, found.high, found.integer)
        for column, found in ranges.items()
    }


# ---- the TFMA extractor -----------------------------------------------------------------------------------------


def _bucket_features(extracts: dict[str, Any], buckets: Mapping[str, Buckets], features_key: str) -> dict[str, Any]:
    """One unbatched TFMA extract with each bucketed column's values replaced by their bucket labels (a copy)."""
    features = extracts.get(features_key)
    if not features:
        return extracts
    features = dict(features)
    for column, spec in buckets.items():
        if column in features:
            features[column] = spec.assign(features[column])
    result = dict(extracts)
    result[features_key] = features
    return result


def bucket_extractor(buckets: Mapping[str, Buckets]) -> Any:
    """A TFMA Extractor that turns each bucketed column's raw values into bucket labels, for the slicer only.

    It must run on unbatched extracts after the predictions (the model reads the serialized input, not these
    features) and before TFMA's SliceKeyExtractor: :func:`with_bucket_extractor` places it there. TFMA slices on a
    model's `transformed_features` output before the raw features when a model has that signature; ours export
    `transform_features` instead, which TFMA does not call, so the raw (here: bucketed) features are sliced.
    """
    import apache_beam as beam
    from tensorflow_model_analysis import constants
    from tensorflow_model_analysis.extractors import extractor

    return extractor.Extractor(
        stage_name=BUCKET_STAGE_NAME,
        ptransform=beam.Map(_bucket_features, buckets=dict(buckets), features_key=constants.FEATURES_KEY),
    )


def with_bucket_extractor(extractors: Sequence[Any], buckets: Mapping[str, Buckets]) -> list[Any]:
    """The extractors with :func:`bucket_extractor` inserted just before TFMA's slice-key extractor."""
    from tensorflow_model_analysis.extractors import slice_key_extractor

    stages = [item.stage_name for item in extractors]
    if slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME not in stages:
        raise ValueError(f"no {slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME} stage among {stages}")
    position = stages.index(slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME)
    return [*extractors[:position], bucket_extractor(buckets), *extractors[position:]]
