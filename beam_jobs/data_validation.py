"""Data validation before training: this run's data against the config and against the served model's data (drift).

Pure functions over ingest's ``stats.json`` and ``column_stats.json`` (beam_jobs.column_stats); no Beam, no KFP.

- ``quarantined_share``: share of the input rows quarantined, any reason.
- ``out_of_range_share``: per numeric column with a configured ``range``, the share of its values (every split)
  outside it, estimated from the quantile boundaries (at least one value when min or max lies outside).
- Against the train split of the served model's data (the baseline), per kept column present in both and of the
  same kind (key columns are skipped: their values are meant to change):
  ``missing_ratio_jump`` (rise of the missing ratio), ``numeric_js`` (Jensen-Shannon divergence, base 2, between the
  histograms over the baseline's quantile boundaries), ``categorical_linf`` (largest change of one value's share,
  the values neither side lists together as "other") and ``new_values_share`` (share of rows whose value the baseline
  never had; only when the baseline lists all its values).

A statistic above its ``stop`` limit is severe (the run stops before preprocess and train), above ``warn`` mild
(reported); a None limit turns that level off.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from beam_jobs.contract import Columns, ColumnSpec
from beam_jobs.layout import ANOMALIES_FILE, SPLITS, TRAIN_SPLIT

QUARANTINED_SHARE = "quarantined_share"
OUT_OF_RANGE_SHARE = "out_of_range_share"
MISSING_RATIO_JUMP = "missing_ratio_jump"
NUMERIC_JS = "numeric_js"
CATEGORICAL_LINF = "categorical_linf"
NEW_VALUES_SHARE = "new_values_share"
DRIFT_STATISTICS = (CATEGORICAL_LINF, NUMERIC_JS, MISSING_RATIO_JUMP, NEW_VALUES_SHARE)  # validation.drift's fields
DRIFT = "drift"  # a skipped entry about every drift check of a column (or of the run)
OTHER = "other"  # the values neither side of a value-share comparison lists
_SHOWN_REASONS = 3  # quarantine reasons named in a message

Severity = Literal["stop", "warn"]


class DataValidationError(RuntimeError):
    """A severe anomaly: the data must not be trained on. The message is one line."""


# ---------------------------------------------------------------------------------------------------------------
# Limits


@dataclass(frozen=True)
class Limit:
    """When a statistic is reported (``warn``) and when it stops the run (``stop``); None turns a level off."""

    warn: float | None = None
    stop: float | None = None

    @property
    def off(self) -> bool:
        """True when neither level is set: the statistic is not checked."""
        return self.warn is None and self.stop is None

    def severity(self, observed: float) -> tuple[Severity, float] | None:
        """The level ``observed`` exceeds (stop first) and that level's limit, or None."""
        if self.stop is not None and observed > self.stop:
            return "stop", self.stop
        if self.warn is not None and observed > self.warn:
            return "warn", self.warn
        return None


@dataclass(frozen=True)
class Limits:
    """The run config's ``validation`` section (pipelines.config.ValidationConfig), as this module reads it."""

    quarantined_share: Limit = Limit()
    out_of_range_share: Limit = Limit()
    drift: Mapping[str, Limit] = field(default_factory=dict)  # DRIFT_STATISTICS -> limit; absent: off

    def drift_limit(self, statistic: str) -> Limit:
        """The limit of one drift statistic (off when not given)."""
        return self.drift.get(statistic, Limit())

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Limits:
        """Read ``validation`` as dumped to JSON (a KFP parameter); ValueError naming the field when malformed."""

        def limit(value: Any, name: str) -> Limit:
            if not isinstance(value, Mapping) or set(value) - {"warn", "stop"}:
                raise ValueError(f"validation.{name}: expected {{warn, stop}}, got {value!r}")
            levels = {}
            for level in ("warn", "stop"):
                number = value.get(level)
                if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))):
                    raise ValueError(f"validation.{name}.{level}: expected a number or null, got {number!r}")
                levels[level] = None if number is None else float(number)
            return Limit(**levels)

        drift = raw.get(DRIFT, {})
        unknown = sorted(set(raw) - {QUARANTINED_SHARE, OUT_OF_RANGE_SHARE, DRIFT}) or sorted(
            set(drift) - set(DRIFT_STATISTICS)
        )
        if unknown:
            raise ValueError(f"validation: unknown field {unknown[0]!r}")
        return cls(
            quarantined_share=limit(raw.get(QUARANTINED_SHARE, {}), QUARANTINED_SHARE),
            out_of_range_share=limit(raw.get(OUT_OF_RANGE_SHARE, {}), OUT_OF_RANGE_SHARE),
            drift={name: limit(drift[name], f"{DRIFT}.{name}") for name in DRIFT_STATISTICS if name in drift},
        )


# ---------------------------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class Anomaly:
    """One statistic beyond its limit. ``column`` is None for a statistic of the whole input (quarantined share)."""

    column: str | None
    statistic: str
    expected: str
    observed: float
    severity: Severity
    message: str


@dataclass(frozen=True)
class Skipped:
    """A check that did not run, and why (``check`` is a statistic name, or DRIFT for all of them)."""

    check: str
    column: str | None
    reason: str


@dataclass(frozen=True)
class ValidationReport:
    """Every anomaly of a run, every statistic measured, the checks skipped and the baseline compared with."""

    anomalies: list[Anomaly]
    measured: list[dict[str, Any]]  # {column, statistic, observed} of every check that ran
    skipped: list[Skipped]
    baseline_version: int | None  # the served version whose data was compared with (None: none was)

    @property
    def severe(self) -> list[Anomaly]:
        """The anomalies that stop the run."""
        return [a for a in self.anomalies if a.severity == "stop"]

    @property
    def mild(self) -> list[Anomaly]:
        """The anomalies that are only reported."""
        return [a for a in self.anomalies if a.severity == "warn"]

    def to_dict(self) -> dict[str, Any]:
        """The content of ANOMALIES_FILE."""
        return {
            "anomalies": [asdict(a) for a in self.anomalies],
            "baseline_version": self.baseline_version,
            "measured": self.measured,
            "skipped": [asdict(s) for s in self.skipped],
        }


def write_report(report: ValidationReport, path: str) -> None:
    """Write ``report`` as JSON to ``path`` (a local file)."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report.to_dict(), handle, indent=2, sort_keys=True, allow_nan=False)


def raise_if_severe(report: ValidationReport) -> None:
    """Raise DataValidationError (one line: the first severe anomaly, and how many more) when any is severe."""
    severe = report.severe
    if severe:
        more = f"; and {len(severe) - 1} more (see {ANOMALIES_FILE})" if len(severe) > 1 else ""
        raise DataValidationError(f"{severe[0].message}{more}")


# ---------------------------------------------------------------------------------------------------------------
# Distributions from column statistics


def _cdf(quantiles: Sequence[float], x: float, inclusive: bool) -> float:
    """Estimated share of values below ``x`` (``inclusive``: at or below), from equal-mass boundaries (min .. max).

    Within a bin the mass is spread evenly; a value repeated across boundaries (a point mass) holds their bins.
    """
    n = len(quantiles) - 1
    if n < 1:  # one boundary: every value equals it
        return float(x > quantiles[0] or (inclusive and x == quantiles[0]))
    if inclusive:
        j = bisect.bisect_right(quantiles, x) - 1  # the last boundary <= x
        if j < 0:
            return 0.0
        if j == n or quantiles[j] == x:
            return j / n
    else:
        i = bisect.bisect_left(quantiles, x)  # the first boundary >= x
        if i == 0:
            return 0.0
        if i > n or quantiles[i] == x:
            return min(i, n) / n
        j = i - 1
    low, high = quantiles[j], quantiles[j + 1]
    return (j + (x - low) / (high - low)) / n


def _histogram(quantiles: Sequence[float], edges: Sequence[float]) -> np.ndarray:
    """Mass below edges[0], in [edges[i], edges[i+1]), at edges[-1] and above it.

    Half-open bins keep each value of an integer column (every value an edge) in a bin of its own.
    """
    below = [_cdf(quantiles, x, inclusive=False) for x in edges]
    last = _cdf(quantiles, edges[-1], inclusive=True)
    masses = [below[0], *np.diff(below), last - below[-1], 1.0 - last]
    clipped = np.clip(np.asarray(masses, dtype=np.float64), 0.0, None)
    return clipped / clipped.sum()


def _js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits: 0 for equal distributions, 1 for disjoint ones."""
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        present = a > 0
        return float(np.sum(a[present] * np.log2(a[present] / m[present])))

    return min(max((kl(p) + kl(q)) / 2, 0.0), 1.0)


def numeric_js(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> float:
    """JS divergence between two numeric columns' statistics, over bins bounded by the baseline's quantiles."""
    edges = sorted(set(baseline["quantiles"]))
    return _js_divergence(_histogram(baseline["quantiles"], edges), _histogram(current["quantiles"], edges))


def _present(stats: Mapping[str, Any]) -> int:
    return int(stats["count"]) - int(stats["missing"])


def _complete(stats: Mapping[str, Any]) -> bool:
    """True when a string column's top values list every value it has."""
    return bool(stats.get("top_values_complete", int(stats["distinct"]) <= len(stats["top_values"])))


def _shares(stats: Mapping[str, Any]) -> dict[str, float]:
    present = _present(stats)
    return {item["value"]: item["count"] / present for item in stats["top_values"]} if present else {}


def categorical_linf(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> tuple[float, str]:
    """L-infinity distance between two string columns' value shares, and the value that moved most.

    A value one side lists and the other does not is 0 on the other side when that side lists all its values;
    otherwise its share there is unknown and it counts as OTHER on both sides.
    """
    mine, theirs = _shares(current), _shares(baseline)
    values = {
        v
        for v in mine.keys() | theirs.keys()
        if (v in mine or _complete(current)) and (v in theirs or _complete(baseline))
    }
    p = {v: mine.get(v, 0.0) for v in values}
    q = {v: theirs.get(v, 0.0) for v in values}
    p[OTHER], q[OTHER] = max(1.0 - sum(p.values()), 0.0), max(1.0 - sum(q.values()), 0.0)
    value = max(sorted(p), key=lambda v: abs(p[v] - q[v]))
    return abs(p[value] - q[value]), value


def new_values(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> tuple[float, list[tuple[str, int]]]:
    """Share of the current rows (with a value) whose value the baseline never had, and those values by count.

    Needs a complete baseline; when the current side is incomplete the share counts its listed values only.
    """
    known = {item["value"] for item in baseline["top_values"]}
    unseen = [(item["value"], int(item["count"])) for item in current["top_values"] if item["value"] not in known]
    present = _present(current)
    return (sum(n for _, n in unseen) / present if present else 0.0), unseen


def out_of_range_share(
    splits: Iterable[Mapping[str, Any]], spec: ColumnSpec
) -> tuple[float, int, float | None, float | None]:
    """Estimated share of a numeric column's values outside ``spec.range`` over several splits' statistics, the
    values counted, and the smallest and largest value seen."""
    value_range = spec.range
    assert value_range is not None
    low, high = value_range.min, value_range.max
    if spec.type == "float":  # values are stored as float32: compare with the bounds as float32 too
        low = None if low is None else float(np.float32(low))
        high = None if high is None else float(np.float32(high))
    outside, total, smallest, largest = 0.0, 0, None, None
    for stats in splits:
        present = _present(stats)
        if not present or not stats.get("quantiles"):
            continue
        quantiles, share = stats["quantiles"], 0.0
        if low is not None and stats["min"] < low:
            share += max(_cdf(quantiles, low, inclusive=False), 1 / present)
        if high is not None and stats["max"] > high:
            share += max(1.0 - _cdf(quantiles, high, inclusive=True), 1 / present)
        outside += min(share, 1.0) * present
        total += present
        smallest = stats["min"] if smallest is None else min(smallest, stats["min"])
        largest = stats["max"] if largest is None else max(largest, stats["max"])
    return (outside / total if total else 0.0), total, smallest, largest


# ---------------------------------------------------------------------------------------------------------------
# The checks


def _number(value: float) -> str:
    return f"{value:.3g}"


def _range_text(spec: ColumnSpec) -> str:
    value_range = spec.range
    assert value_range is not None
    low = "-inf" if value_range.min is None else f"{value_range.min:g}"
    high = "inf" if value_range.max is None else f"{value_range.max:g}"
    return f"[{low}, {high}]"


class _Checker:
    """Collects measurements, anomalies and skipped checks."""

    def __init__(self) -> None:
        self.anomalies: list[Anomaly] = []
        self.measured: list[dict[str, Any]] = []
        self.skipped: list[Skipped] = []

    def skip(self, check: str, column: str | None, reason: str) -> None:
        self.skipped.append(Skipped(check, column, reason))

    def measure(self, column: str | None, statistic: str, observed: float, limit: Limit, expected: str) -> None:
        """Record ``observed`` and, when it exceeds a level of ``limit``, the anomaly."""
        self.measured.append({"column": column, "statistic": statistic, "observed": observed})
        crossed = limit.severity(observed)
        if crossed is None:
            return
        severity, bound = crossed
        subject = "rows" if column is None else f"column {column!r}"
        message = f"{subject}: {statistic} {_number(observed)} exceeds {severity} limit {bound:g} (expected {expected})"
        self.anomalies.append(Anomaly(column, statistic, expected, observed, severity, message))


def _check_quarantine(checker: _Checker, stats: Mapping[str, Any], limit: Limit) -> None:
    if limit.off:
        return
    total, quarantined = int(stats.get("input") or 0), int(stats.get("quarantined") or 0)
    if not total:
        checker.skip(QUARANTINED_SHARE, None, "no input rows")
        return
    reasons = sorted(dict(stats.get("quarantine_reasons") or {}).items(), key=lambda item: (-item[1], item[0]))
    named = ", ".join(f"{kind} {n}" for kind, n in reasons[:_SHOWN_REASONS]) or "none"
    expected = f"rows that pass cleaning; {quarantined} of {total} quarantined, top reasons: {named}"
    checker.measure(None, QUARANTINED_SHARE, quarantined / total, limit, expected)


def _check_ranges(checker: _Checker, column_stats: Mapping[str, Any], columns: Columns, limit: Limit) -> None:
    if limit.off:
        return
    for name, spec in columns.columns.items():
        if spec.range is None:
            continue
        if spec.role == "ignore":
            checker.skip(OUT_OF_RANGE_SHARE, name, "ignored column: not kept, so not described")
            continue
        splits = [column_stats[split][name] for split in SPLITS if name in column_stats.get(split, {})]
        share, total, smallest, largest = out_of_range_share(splits, spec)
        if not total:
            checker.skip(OUT_OF_RANGE_SHARE, name, "the column has no values")
            continue
        seen = f"seen {_number(smallest)} to {_number(largest)} in {total} values"
        checker.measure(name, OUT_OF_RANGE_SHARE, share, limit, f"values in {_range_text(spec)}; {seen}")


def _kind(stats: Mapping[str, Any]) -> str:
    return "number" if "quantiles" in stats else "string"


def _check_drift_column(
    checker: _Checker, name: str, current: Mapping[str, Any], baseline: Mapping[str, Any], limits: Limits, served: str
) -> None:
    """Every drift statistic of one column present in this run and in the baseline."""
    jump = limits.drift_limit(MISSING_RATIO_JUMP)
    if not jump.off:
        before, now = float(baseline["missing_ratio"]), float(current["missing_ratio"])
        expected = f"a missing ratio near {served}'s {_number(before)}; now {_number(now)}"
        checker.measure(name, MISSING_RATIO_JUMP, max(now - before, 0.0), jump, expected)
    if not _present(current) or not _present(baseline):
        side = "this run" if not _present(current) else served
        checker.skip(DRIFT, name, f"{side} has no values in the column: distributions not compared")
        return
    if _kind(current) == "number":
        js = limits.drift_limit(NUMERIC_JS)
        if not js.off:
            means = f"mean {_number(baseline['mean'])} → {_number(current['mean'])}"
            checker.measure(name, NUMERIC_JS, numeric_js(current, baseline), js, f"{served}'s distribution; {means}")
        return
    linf = limits.drift_limit(CATEGORICAL_LINF)
    if not linf.off:
        distance, value = categorical_linf(current, baseline)
        mine, theirs = _shares(current), _shares(baseline)
        moved = f"{value!r} {_number(theirs.get(value, 0.0))} → {_number(mine.get(value, 0.0))}"
        if value == OTHER:
            moved = "values neither side lists together"
        checker.measure(name, CATEGORICAL_LINF, distance, linf, f"{served}'s value shares; most changed: {moved}")
    unseen_limit = limits.drift_limit(NEW_VALUES_SHARE)
    if unseen_limit.off:
        return
    if not _complete(baseline):
        reason = f"{served} lists {len(baseline['top_values'])} of its ~{baseline['distinct']} values, not all of them"
        checker.skip(NEW_VALUES_SHARE, name, reason)
        return
    share, unseen = new_values(current, baseline)
    shown = ", ".join(f"{value!r} {n}" for value, n in unseen[:3]) or "none"
    at_least = "" if _complete(current) else " (at least: this run lists only its most frequent values)"
    expected = f"values {served} had; new: {shown}{at_least}"
    checker.measure(name, NEW_VALUES_SHARE, share, unseen_limit, expected)


def _check_drift(
    checker: _Checker,
    column_stats: Mapping[str, Any],
    columns: Columns,
    limits: Limits,
    baseline: Mapping[str, Any] | None,
    baseline_version: int | None,
) -> None:
    if all(limits.drift_limit(name).off for name in DRIFT_STATISTICS):
        return
    if baseline is None:
        absent = "no published model" if baseline_version is None else f"served version {baseline_version} has no "
        checker.skip(DRIFT, None, absent + ("data statistics" if baseline_version is not None else "") + ": no drift")
        return
    served = "the served data" if baseline_version is None else f"served version {baseline_version}"
    theirs = baseline.get(TRAIN_SPLIT) or {}
    mine = column_stats.get(TRAIN_SPLIT) or {}
    if not theirs or not mine:
        side = served if not theirs else "this run"
        checker.skip(DRIFT, None, f"{side} has no {TRAIN_SPLIT} split statistics: nothing to compare")
        return
    for name, spec in columns.kept.items():
        if spec.role == "key":
            checker.skip(DRIFT, name, "key column: its values are meant to change")
        elif name not in theirs:
            checker.skip(DRIFT, name, f"new column: {served} has no column {name!r}")
        elif name not in mine:
            checker.skip(DRIFT, name, f"no statistics of the column in this run's {TRAIN_SPLIT} split")
        elif _kind(mine[name]) != _kind(theirs[name]):
            checker.skip(DRIFT, name, f"type changed: a {_kind(theirs[name])} column in {served}")
        else:
            _check_drift_column(checker, name, mine[name], theirs[name], limits, served)


def find_anomalies(
    stats: Mapping[str, Any],
    column_stats: Mapping[str, Any],
    columns: Columns,
    limits: Limits,
    baseline: Mapping[str, Any] | None = None,
    baseline_version: int | None = None,
) -> ValidationReport:
    """Every anomaly of this run's data.

    Args:
        stats: Ingest's stats.json (IngestStats: row counts and quarantine reasons).
        column_stats: Ingest's column_stats.json (split -> column -> statistics).
        columns: The columns contract (types and ranges).
        limits: The validation limits.
        baseline: The served model's column_stats.json, or None when there is none (drift checks skipped).
        baseline_version: The served version those statistics belong to (None: no published model).
    """
    checker = _Checker()
    _check_quarantine(checker, stats, limits.quarantined_share)
    _check_ranges(checker, column_stats, columns, limits.out_of_range_share)
    _check_drift(checker, column_stats, columns, limits, baseline, baseline_version)
    compared = baseline_version if baseline is not None else None
    return ValidationReport(checker.anomalies, checker.measured, checker.skipped, compared)
