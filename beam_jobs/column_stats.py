"""Per-column statistics of the clean rows, per split, computed inside the Beam job (TFDV does not install here).

Numbers: count, missing, min, max, mean, std and QUANTILES + 1 equal-mass boundaries (min first, max last). Strings:
count, missing, up to TOP_VALUES most frequent values, the number of distinct values and whether the top values list
every value (``top_values_complete``). Quantiles, top values and distinct counts come from tfx_bsl's mergeable
sketches (QuantilesSketch, MisraGriesSketch, KmvSketch), so the combine runs on any Beam runner and memory does not
grow with the data: the counts they give are estimates for large data and exact for small. The resolution is what
beam_jobs.data_validation needs: 2% of the mass per quantile bin for drift and out-of-range shares, and every value
of a column with up to TOP_VALUES of them for value shares and new values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from tfx_bsl import sketches

QUANTILES = 50  # equal-mass bins: 51 boundaries from min to max
TOP_VALUES = 100
_QUANTILE_EPSILON = 0.001
_QUANTILE_MAX_WEIGHT = 1 << 32
_DISTINCT_SKETCH_SIZE = 1024  # KMV estimates are exact below this many distinct values
_TOP_SKETCH_SIZE = 1000  # Misra-Gries counts are exact while a column has at most this many distinct values


@dataclass
class _Column:
    """The running statistics of one column."""

    numeric: bool
    count: int = 0
    missing: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    total: float = 0.0
    total_squares: float = 0.0
    # The sketches this column's kind uses, made with it (numbers: quantiles; strings: top values and distinct).
    quantiles: Any = field(default=None, init=False)
    top: Any = field(default=None, init=False)
    distinct: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.numeric:
            self.quantiles = sketches.QuantilesSketch(_QUANTILE_EPSILON, _QUANTILE_MAX_WEIGHT, 1)
        else:
            self.top = sketches.MisraGriesSketch(_TOP_SKETCH_SIZE)
            self.distinct = sketches.KmvSketch(_DISTINCT_SKETCH_SIZE)

    def add(self, values: pa.Array) -> None:
        """Count one batch of the column's values (nulls are missing values)."""
        self.count += len(values)
        self.missing += values.null_count
        present = values.drop_null()
        if not len(present):
            return
        if self.numeric:
            numbers = present.cast(pa.float64(), safe=False)  # ints beyond 2**53 round, as statistics may
            bounds = pc.min_max(numbers)
            self.minimum = min(self.minimum, bounds["min"].as_py())
            self.maximum = max(self.maximum, bounds["max"].as_py())
            self.total += pc.sum(numbers).as_py()
            self.total_squares += pc.sum(pc.multiply(numbers, numbers)).as_py()
            self.quantiles.AddValues(numbers)
        else:
            self.top.AddValues(present)
            self.distinct.AddValues(present)

    def merge(self, other: _Column) -> None:
        """Fold ``other`` (the same column's statistics from other rows) into this one."""
        self.count += other.count
        self.missing += other.missing
        self.minimum, self.maximum = min(self.minimum, other.minimum), max(self.maximum, other.maximum)
        self.total += other.total
        self.total_squares += other.total_squares
        for mine, theirs in ((self.quantiles, other.quantiles), (self.top, other.top), (self.distinct, other.distinct)):
            if mine is not None:
                mine.Merge(theirs)

    def summary(self) -> dict[str, Any]:
        """The column's statistics as JSON-ready values."""
        present = self.count - self.missing
        out: dict[str, Any] = {
            "count": self.count,
            "missing": self.missing,
            "missing_ratio": self.missing / self.count if self.count else 0.0,
        }
        if self.numeric:
            if not present:
                return {**out, "min": None, "max": None, "mean": None, "std": None, "quantiles": []}
            mean = self.total / present
            variance = max(self.total_squares / present - mean * mean, 0.0)
            quantiles = self.quantiles.GetQuantiles(QUANTILES).to_pylist()[0]
            return {
                **out,
                "min": self.minimum,
                "max": self.maximum,
                "mean": mean,
                "std": math.sqrt(variance),
                "quantiles": quantiles,
            }
        top = [
            {"value": item["values"].decode("utf-8", "replace"), "count": int(item["counts"])}
            for item in self.top.Estimate().to_pylist()[:TOP_VALUES]
        ]
        distinct = int(self.distinct.Estimate())
        return {**out, "distinct": distinct, "top_values": top, "top_values_complete": distinct <= len(top)}


def _is_numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind)


class ColumnStatistics(beam.CombineFn):
    """Record batches of typed clean rows → ``{column: statistics}`` (see the module docstring)."""

    def create_accumulator(self) -> dict[str, _Column]:
        """No column seen yet."""
        return {}

    def add_input(self, accumulator: dict[str, _Column], batch: pa.RecordBatch) -> dict[str, _Column]:
        """Count one batch."""
        for name, values in zip(batch.schema.names, batch.columns, strict=True):
            column = accumulator.get(name)
            if column is None:
                column = accumulator[name] = _Column(numeric=_is_numeric(values.type))
            column.add(values)
        return accumulator

    def merge_accumulators(self, accumulators: Any) -> dict[str, _Column]:
        """Fold the statistics of several bundles."""
        merged: dict[str, _Column] = {}
        for accumulator in accumulators:
            for name, column in accumulator.items():
                if name in merged:
                    merged[name].merge(column)
                else:
                    merged[name] = column
        return merged

    def extract_output(self, accumulator: dict[str, _Column]) -> dict[str, dict[str, Any]]:
        """Every column's statistics, by name."""
        return {name: column.summary() for name, column in sorted(accumulator.items())}
