"""Data validation: drift against the served model's data fires on shifted columns and stays quiet on re-sampled
ones; quarantined and out-of-range shares warn and stop; limits turn checks off. The column statistics are real:
computed by the ColumnStatistics CombineFn (and by the ingest job) on small data."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from beam_jobs.column_stats import ColumnStatistics
from beam_jobs.contract import Columns, columns_to_dict, parse_columns
from beam_jobs.data_validation import (
    CATEGORICAL_LINF,
    DRIFT,
    DRIFT_STATISTICS,
    MISSING_RATIO_JUMP,
    NEW_VALUES_SHARE,
    NUMERIC_JS,
    OUT_OF_RANGE_SHARE,
    QUARANTINED_SHARE,
    DataValidationError,
    Limit,
    Limits,
    ValidationReport,
    find_anomalies,
    numeric_js,
    out_of_range_share,
    raise_if_severe,
    write_report,
)
from beam_jobs.ingest import IngestPaths, run_ingest
from beam_jobs.layout import ANOMALIES_FILE, COLUMN_STATS_FILE, TRAIN_SPLIT
from pipelines.config import DriftConfig, ValidationConfig
from tests.unit.test_ingest import HEADER, RATIOS, _write

ROWS = 3000
PLANS = ["basic", "premium", "family"]
COLUMNS = parse_columns(
    {
        "customer_id": {"type": "string", "role": "key"},
        "age": {"type": "float", "missing": "mean"},
        "hour": {"type": "int"},
        "plan": {"type": "string", "missing": "mode"},
        "churned": {"type": "int", "role": "label"},
    }
)
DEFAULTS = Limits.from_dict(ValidationConfig().model_dump(mode="json"))
STATS = {"input": ROWS, "train": ROWS, "eval": 0, "test": 0, "quarantined": 0, "quarantine_reasons": {}}


def _column_stats(**columns: pa.Array) -> dict:
    """{train: column statistics} by the real CombineFn, over three bundles merged as a runner would."""
    fn = ColumnStatistics()
    batch = pa.RecordBatch.from_arrays(list(columns.values()), list(columns))
    cuts = [0, batch.num_rows // 3, 2 * batch.num_rows // 3, batch.num_rows]
    bundles = [fn.add_input(fn.create_accumulator(), batch.slice(a, b - a)) for a, b in itertools.pairwise(cuts)]
    return {TRAIN_SPLIT: fn.extract_output(fn.merge_accumulators(bundles))}


def _data(
    seed: int,
    age_mean: float = 40.0,
    plan_shares: tuple[float, ...] = (0.5, 0.3, 0.2),
    plans: list[str] = PLANS,
    age_missing: float = 0.0,
    positives: float = 0.3,
) -> dict:
    """ROWS customers drawn from one distribution (a new ``seed`` re-samples it)."""
    rng = np.random.default_rng(seed)
    ages = rng.normal(age_mean, 10.0, ROWS)
    mask = rng.random(ROWS) < age_missing
    return _column_stats(
        customer_id=pa.array([f"C{seed}-{i}".encode() for i in range(ROWS)], pa.binary()),
        age=pa.array(ages.astype(np.float32), pa.float32(), mask=mask),
        hour=pa.array(rng.integers(0, 24, ROWS), pa.int64()),
        plan=pa.array([p.encode() for p in rng.choice(plans, ROWS, p=plan_shares)], pa.binary()),
        churned=pa.array((rng.random(ROWS) < positives).astype(np.int64), pa.int64()),
    )


def _check(current: dict, baseline: dict | None, limits: Limits = DEFAULTS, stats: dict = STATS) -> ValidationReport:
    return find_anomalies(stats, current, COLUMNS, limits, baseline, None if baseline is None else 3)


def _by(report: ValidationReport) -> dict[tuple[str | None, str], object]:
    return {(a.column, a.statistic): a for a in report.anomalies}


def _measured(report: ValidationReport) -> dict[tuple[str | None, str], float]:
    return {(m["column"], m["statistic"]): m["observed"] for m in report.measured}


@pytest.fixture(scope="module")
def baseline() -> dict:
    return _data(seed=1)


# ---------------------------------------------------------------------------------------------------------------
# Limits: the config's validation section


def test_limits_are_read_from_the_configs_validation_section():
    assert set(DRIFT_STATISTICS) == set(DriftConfig.model_fields)
    assert set(ValidationConfig.model_fields) == {QUARANTINED_SHARE, OUT_OF_RANGE_SHARE, DRIFT}
    assert DEFAULTS.quarantined_share == Limit(warn=0.01, stop=0.5)
    assert DEFAULTS.out_of_range_share == Limit(warn=0.0, stop=0.01)
    assert DEFAULTS.drift_limit(NUMERIC_JS) == Limit(warn=0.1, stop=0.3)
    with pytest.raises(ValueError, match=r"validation\.drift\.numeric_js\.stop: expected a number or null, got 'high'"):
        Limits.from_dict({"drift": {"numeric_js": {"stop": "high"}}})
    with pytest.raises(ValueError, match="validation: unknown field 'kl'"):
        Limits.from_dict({"drift": {"kl": {"stop": 1}}})


# ---------------------------------------------------------------------------------------------------------------
# Drift against the served model's data


def test_unchanged_data_resampled_raises_nothing(baseline):
    report = _check(_data(seed=2), baseline)
    assert report.anomalies == [] and report.baseline_version == 3
    measured = _measured(report)
    for column in ("age", "hour", "churned"):
        assert measured[column, NUMERIC_JS] < 0.05, column
    assert measured["plan", CATEGORICAL_LINF] < 0.05 and measured["plan", NEW_VALUES_SHARE] == 0.0
    assert all(measured[column, MISSING_RATIO_JUMP] == 0.0 for column in ("age", "hour", "plan", "churned"))
    # The key column's values always change: never compared.
    assert not any(column == "customer_id" for column, _ in measured)
    assert [(s.check, s.column) for s in report.skipped] == [(DRIFT, "customer_id")]


def test_the_same_data_has_no_drift_at_all(baseline):
    measured = _measured(_check(baseline, baseline))
    assert all(value == 0.0 for (column, statistic), value in measured.items() if statistic != QUARANTINED_SHARE)


def test_a_shifted_numeric_column_drifts(baseline):
    far = _by(_check(_data(seed=2, age_mean=70.0), baseline))
    assert set(far) == {("age", NUMERIC_JS)}
    anomaly = far["age", NUMERIC_JS]
    assert anomaly.severity == "stop" and anomaly.observed > 0.7
    assert anomaly.message.startswith(f"column 'age': numeric_js {anomaly.observed:.3g} exceeds stop limit 0.3 (")
    assert anomaly.message.endswith("(expected served version 3's distribution; mean 40 → 69.7)")
    near = _by(_check(_data(seed=2, age_mean=50.0), baseline))  # one standard deviation
    assert near["age", NUMERIC_JS].severity == "warn" and set(near) == {("age", NUMERIC_JS)}


def test_a_shifted_label_drifts_as_a_numeric_column(baseline):
    found = _by(_check(_data(seed=2, positives=0.9), baseline))
    assert set(found) == {("churned", NUMERIC_JS)} and found["churned", NUMERIC_JS].severity == "warn"
    # JS((0.7, 0.3), (0.1, 0.9)) in bits: the quantile histograms of a 0/1 column keep both classes apart.
    p, q = np.array([0.7, 0.3]), np.array([0.1, 0.9])
    m = (p + q) / 2
    exact = (np.sum(p * np.log2(p / m)) + np.sum(q * np.log2(q / m))) / 2
    assert found["churned", NUMERIC_JS].observed == pytest.approx(exact, abs=0.03)


def test_a_shifted_categorical_column_drifts(baseline):
    current = _data(seed=2, plan_shares=(0.1, 0.8, 0.1))
    found = _by(_check(current, baseline))
    assert set(found) == {("plan", CATEGORICAL_LINF)}
    anomaly = found["plan", CATEGORICAL_LINF]
    before, after = (
        {v["value"]: v["count"] / ROWS for v in s[TRAIN_SPLIT]["plan"]["top_values"]} for s in (baseline, current)
    )
    assert anomaly.severity == "stop" and anomaly.observed == pytest.approx(
        max(abs(after[p] - before[p]) for p in PLANS)
    )
    assert anomaly.observed == pytest.approx(after["premium"] - before["premium"])
    assert f"most changed: 'premium' {before['premium']:.3g} → {after['premium']:.3g})" in anomaly.message
    mild = _by(_check(_data(seed=2, plan_shares=(0.35, 0.45, 0.2)), baseline))
    assert set(mild) == {("plan", CATEGORICAL_LINF)} and mild["plan", CATEGORICAL_LINF].severity == "warn"


def test_new_values_are_counted_when_the_baseline_lists_all_its_values(baseline):
    current = _data(seed=2, plans=[*PLANS, "gold"], plan_shares=(0.45, 0.3, 0.15, 0.1))
    found = _by(_check(current, baseline))
    anomaly = found["plan", NEW_VALUES_SHARE]
    assert anomaly.severity == "warn" and anomaly.observed == pytest.approx(0.1, abs=0.02)
    assert "new: 'gold'" in anomaly.message
    assert _measured(_check(current, baseline))["plan", CATEGORICAL_LINF] == pytest.approx(0.1, abs=0.03)


def test_new_values_are_skipped_when_the_baseline_lists_only_its_most_frequent_values(baseline):
    many = [f"p{i}" for i in range(150)]  # more distinct values than column statistics list
    wide = _data(seed=1, plans=many, plan_shares=tuple([1 / 150] * 150))
    assert wide[TRAIN_SPLIT]["plan"]["top_values_complete"] is False
    report = _check(_data(seed=2, plans=many, plan_shares=tuple([1 / 150] * 150)), wide)
    assert ("plan", NEW_VALUES_SHARE) not in _measured(report)
    skipped = {(s.check, s.column): s.reason for s in report.skipped}
    assert "lists 100 of its ~150 values, not all of them" in skipped[NEW_VALUES_SHARE, "plan"]
    assert _measured(report)["plan", CATEGORICAL_LINF] < 0.05 and report.anomalies == []


def test_a_missing_ratio_jump_is_an_anomaly(baseline):
    found = _by(_check(_data(seed=2, age_missing=0.4), baseline))
    anomaly = found["age", MISSING_RATIO_JUMP]
    assert anomaly.severity == "stop" and anomaly.observed == pytest.approx(0.4, abs=0.03)
    assert "a missing ratio near served version 3's 0; now 0.4" in anomaly.message
    assert ("age", NUMERIC_JS) not in found  # the values that are there did not move
    assert _by(_check(_data(seed=2, age_missing=0.1), baseline))["age", MISSING_RATIO_JUMP].severity == "warn"


def test_a_new_column_is_noted_not_an_anomaly(baseline):
    older = {TRAIN_SPLIT: {k: v for k, v in baseline[TRAIN_SPLIT].items() if k != "hour"}}
    report = _check(_data(seed=2), older)
    assert report.anomalies == []
    assert any(s.column == "hour" and s.reason.startswith("new column") for s in report.skipped)


def test_without_served_data_drift_is_skipped_and_said_so(baseline):
    for stats, version, reason in ((None, None, "no published model"), (None, 4, "served version 4 has no data")):
        report = find_anomalies(STATS, _data(seed=2, age_mean=70.0), COLUMNS, DEFAULTS, stats, version)
        assert report.anomalies == [] and report.baseline_version is None
        assert [(s.check, s.column) for s in report.skipped] == [(DRIFT, None)]
        assert report.skipped[0].reason.startswith(reason)


# ---------------------------------------------------------------------------------------------------------------
# Quarantined share and out-of-range share


@pytest.mark.parametrize(("quarantined", "severity"), [(20, None), (60, "warn"), (1800, "stop")])
def test_quarantined_share_warns_and_stops(baseline, quarantined, severity):
    reasons = {"bad_number": quarantined // 2, "missing_value": quarantined // 3, "bad_label": quarantined // 6}
    stats = {**STATS, "quarantined": quarantined, "quarantine_reasons": reasons}
    found = _by(_check(baseline, baseline, stats=stats))
    if severity is None:
        assert found == {}
        return
    anomaly = found[None, QUARANTINED_SHARE]
    assert anomaly.severity == severity and anomaly.observed == quarantined / ROWS
    assert anomaly.message.startswith(f"rows: quarantined_share {quarantined / ROWS:.3g} exceeds {severity} limit")
    assert f"{quarantined} of {ROWS} quarantined, top reasons: bad_number {quarantined // 2}, missing_value" in (
        anomaly.message
    )


def _ranged(age: dict) -> Columns:
    """COLUMNS with ``age`` declared as given."""
    return parse_columns({**columns_to_dict(COLUMNS), "age": age})


@pytest.mark.parametrize(("outside", "severity"), [(0.0, None), (0.004, "warn"), (0.05, "stop")])
def test_out_of_range_share_warns_and_stops(outside, severity):
    rng = np.random.default_rng(3)
    ages = rng.uniform(20, 80, ROWS)
    ages[: int(outside * ROWS)] = 130.0
    current = _column_stats(age=pa.array(ages.astype(np.float32)))
    columns = _ranged({"type": "float", "range": {"min": 0, "max": 120}})
    report = find_anomalies(STATS, current, columns, DEFAULTS)
    share = _measured(report)["age", OUT_OF_RANGE_SHARE]
    assert share == pytest.approx(outside, abs=1 / 50)  # the resolution of 50 quantile bins
    found = _by(report)
    if severity is None:
        assert found == {}
        return
    anomaly = found["age", OUT_OF_RANGE_SHARE]
    assert anomaly.severity == severity
    assert anomaly.message.startswith(f"column 'age': out_of_range_share {share:.3g} exceeds {severity} limit")
    assert f"(expected values in [0, 120]; seen 20 to 130 in {ROWS} values)" in anomaly.message


def test_out_of_range_share_counts_every_split_and_both_ends():
    rng = np.random.default_rng(4)
    below = _column_stats(hour=pa.array(np.r_[np.full(100, -1), rng.integers(0, 24, 900)], pa.int64()))
    above = _column_stats(hour=pa.array(np.r_[np.full(300, 30), rng.integers(0, 24, 700)], pa.int64()))
    spec = parse_columns(
        {"hour": {"type": "int", "range": {"min": 0, "max": 23}}, "y": {"type": "int", "role": "label"}}
    )
    share, total, smallest, largest = out_of_range_share(
        [below[TRAIN_SPLIT]["hour"], above[TRAIN_SPLIT]["hour"]], spec.columns["hour"]
    )
    assert (total, smallest, largest) == (2000, -1, 30)
    assert share == pytest.approx(400 / 2000, abs=0.02)


def test_a_float_bound_matches_the_value_written_in_the_data():
    """Values are float32; 0.1 written in the data is float32(0.1), just above the float 0.1 of the config."""
    current = _column_stats(age=pa.array(np.full(50, 0.1, np.float32)))
    columns = _ranged({"type": "float", "range": {"min": 0, "max": 0.1}})
    assert _measured(find_anomalies(STATS, current, columns, DEFAULTS))["age", OUT_OF_RANGE_SHARE] == 0.0


def test_limits_none_turn_checks_off(baseline):
    shifted = _data(seed=2, age_mean=70.0, plan_shares=(0.1, 0.8, 0.1), age_missing=0.4)
    stats = {**STATS, "quarantined": 2000}
    columns = _ranged({"type": "float", "missing": "mean", "range": {"min": 0, "max": 10}})
    every = find_anomalies(stats, shifted, columns, DEFAULTS, baseline, 3).severe
    assert {(a.column, a.statistic) for a in every} == {
        (None, QUARANTINED_SHARE),
        ("age", OUT_OF_RANGE_SHARE),
        ("age", NUMERIC_JS),
        ("age", MISSING_RATIO_JUMP),
        ("plan", CATEGORICAL_LINF),
    }
    off = Limits.from_dict({"drift": {name: {"warn": None, "stop": None} for name in DRIFT_STATISTICS}})
    report = find_anomalies(stats, shifted, columns, off, baseline, 3)
    assert report.anomalies == [] and report.measured == [] and report.skipped == []
    warn_only = Limits(drift={NUMERIC_JS: Limit(warn=0.1)})
    found = find_anomalies(stats, shifted, columns, warn_only, baseline, 3).anomalies
    assert [(a.column, a.statistic, a.severity) for a in found] == [("age", NUMERIC_JS, "warn")]


def test_js_divergence_is_in_bits_between_zero_and_one(baseline):
    age = baseline[TRAIN_SPLIT]["age"]
    disjoint = _column_stats(age=pa.array(np.linspace(500, 600, 100, dtype=np.float32)))[TRAIN_SPLIT]["age"]
    assert numeric_js(age, age) == 0.0 and numeric_js(disjoint, age) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------------------
# The report and the stop


def test_severe_anomalies_stop_with_one_line_and_the_report_is_written(tmp_path: Path, baseline):
    report = _check(_data(seed=2, age_mean=70.0, plan_shares=(0.1, 0.8, 0.1), age_missing=0.1), baseline)
    assert len(report.severe) == 2 and len(report.mild) == 1
    with pytest.raises(DataValidationError) as raised:
        raise_if_severe(report)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(report.severe[0].message)
    assert message.endswith(f"; and 1 more (see {ANOMALIES_FILE})")
    write_report(report, str(tmp_path / ANOMALIES_FILE))
    written = json.loads((tmp_path / ANOMALIES_FILE).read_text())
    assert written["baseline_version"] == 3 and len(written["anomalies"]) == 3
    assert {a["severity"] for a in written["anomalies"]} == {"stop", "warn"}
    assert written["skipped"] == [{"check": DRIFT, "column": "customer_id", "reason": written["skipped"][0]["reason"]}]
    raise_if_severe(_check(baseline, baseline))  # nothing severe: no error


def test_statistics_written_by_the_ingest_job_are_checked(tmp_path: Path, demo_config):
    """The real ingest job: quarantined rows and an out-of-range age in its stats.json and column_stats.json."""
    source = tmp_path / "data"
    source.mkdir()
    rows = [f"C{i},{40 + i % 30},50000,20,10,1,basic,north,pixel,{i % 24},web,,,{i % 2}" for i in range(200)]
    rows += [f"C{i},150,50000,20,10,1,basic,north,pixel,3,web,,,0" for i in range(200, 210)]  # out of range
    rows += [f"C{i},forty,50000,20,10,1,basic,north,pixel,3,web,,,0" for i in range(210, 215)]  # quarantined
    _write(source / "a.csv", [HEADER, *rows])
    paths = IngestPaths.under(str(tmp_path / "out"))
    stats = run_ingest(str(source / "*.csv"), demo_config.contract, RATIOS, paths)
    assert stats.quarantined == 5
    written = json.loads(Path(paths.stats).read_text())
    column_stats = json.loads((Path(paths.stats).parent / COLUMN_STATS_FILE).read_text())
    config = demo_config.model_dump(mode="json")
    config["columns"]["age"]["range"] = {"min": 0, "max": 120}
    columns = parse_columns(config["columns"])
    report = find_anomalies(written, column_stats, columns, DEFAULTS)
    found = _by(report)
    assert found[None, QUARANTINED_SHARE].severity == "warn"  # 5 of 215 rows
    assert "top reasons: bad_number 5" in found[None, QUARANTINED_SHARE].message
    age = found["age", OUT_OF_RANGE_SHARE]
    assert age.severity == "stop" and age.observed == pytest.approx(10 / 210, abs=0.02)
    assert "seen 40 to 150 in 210 values" in age.message
