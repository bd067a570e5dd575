"""The validate-data adapter on real files: ingest's statistics artifact in, a real registry holding the served
version's data statistics, anomalies.json out; a severe anomaly stops the step with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from kfp.dsl import Artifact

from beam_jobs.contract import columns_to_dict
from beam_jobs.data_validation import DRIFT, NUMERIC_JS, QUARANTINED_SHARE, DataValidationError
from beam_jobs.layout import ANOMALIES_FILE, COLUMN_STATS_FILE, STATS_FILE
from components.notify.run_summary import collect
from components.push import registry
from components.validate_data.component import validate_data
from pipelines.config import ValidationConfig
from pipelines.summary import build_summary, format_summary
from tests.unit.test_data_validation import COLUMNS, ROWS, STATS, _data
from tests.unit.test_registry import make_model

MODEL = "churn"
VALIDATION = ValidationConfig().model_dump(mode="json")


def _statistics(tmp_path: Path, column_stats: dict, stats: dict = STATS) -> Artifact:
    """Ingest's statistics artifact: stats.json and column_stats.json."""
    directory = tmp_path / "ingest" / "statistics"
    directory.mkdir(parents=True)
    (directory / STATS_FILE).write_text(json.dumps(stats))
    (directory / COLUMN_STATS_FILE).write_text(json.dumps(column_stats))
    return Artifact(uri=str(directory))


def _serve(tmp_path: Path, column_stats: dict | None) -> Path:
    """A registry with version 1 published, with ``column_stats`` as its data statistics (None: without)."""
    root = tmp_path / "serving"
    statistics = None
    if column_stats is not None:
        statistics = tmp_path / "served_column_stats.json"
        statistics.write_text(json.dumps(column_stats))
    registry.publish(
        make_model(tmp_path / "model", seed=1),
        root,
        MODEL,
        metrics={"auc": 0.8},
        config_hash="c",
        data_fingerprint="f",
        code_version="v",
        data_statistics=statistics,
    )
    return root


def _run(tmp_path: Path, statistics: Artifact, serving_root: Path) -> tuple[int, Artifact]:
    anomalies = Artifact(uri=str(tmp_path / "validate-data" / "anomalies"))
    found = validate_data(statistics, columns_to_dict(COLUMNS), VALIDATION, str(serving_root), MODEL, anomalies)
    return found, anomalies


def _written(anomalies: Artifact) -> dict:
    return json.loads((Path(anomalies.path) / ANOMALIES_FILE).read_text())


def test_without_a_published_model_only_the_config_checks_run(tmp_path: Path, capsys):
    statistics = _statistics(tmp_path, _data(seed=2, age_mean=70.0))  # drifted, but from nothing
    found, anomalies = _run(tmp_path, statistics, tmp_path / "serving")
    assert found == 0
    written = _written(anomalies)
    assert written["anomalies"] == [] and written["baseline_version"] is None
    assert written["skipped"] == [{"check": DRIFT, "column": None, "reason": "no published model: no drift"}]
    assert [m["statistic"] for m in written["measured"]] == [QUARANTINED_SHARE]
    assert anomalies.metadata == {"mild": 0, "severe": 0}
    assert "no published model to compare with; anomalies: 0 mild, 0 severe" in capsys.readouterr().out


def test_a_version_pushed_without_data_statistics_skips_drift_and_says_so(tmp_path: Path):
    found, anomalies = _run(tmp_path, _statistics(tmp_path, _data(seed=2)), _serve(tmp_path, None))
    assert found == 0
    reason = _written(anomalies)["skipped"][0]["reason"]
    assert reason == "served version 1 has no data statistics: no drift"


def test_mild_anomalies_are_written_printed_and_counted(tmp_path: Path, capsys):
    stats = {**STATS, "quarantined": 60, "quarantine_reasons": {"bad_number": 60}}
    statistics = _statistics(tmp_path, _data(seed=2, age_mean=50.0), stats)
    found, anomalies = _run(tmp_path, statistics, _serve(tmp_path, _data(seed=1)))
    assert found == 2
    written = _written(anomalies)
    assert written["baseline_version"] == 1
    assert [(a["column"], a["statistic"], a["severity"]) for a in written["anomalies"]] == [
        (None, QUARANTINED_SHARE, "warn"),
        ("age", NUMERIC_JS, "warn"),
    ]
    assert anomalies.metadata == {"mild": 2, "severe": 0, "baseline_version": 1}
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("validate-data: warn: ")] == [
        f"validate-data: warn: {a['message']}" for a in written["anomalies"]
    ]
    assert f"rows: quarantined_share {60 / ROWS:.3g} exceeds warn limit 0.01" in out[1]


def test_the_run_summary_lists_the_mild_anomalies_and_the_cli_counts_them(tmp_path: Path):
    stats = {**STATS, "quarantined": 60, "quarantine_reasons": {"bad_number": 60}}
    _, anomalies = _run(
        tmp_path, _statistics(tmp_path, _data(seed=2, age_mean=50.0), stats), _serve(tmp_path, _data(1))
    )
    facts = collect("", "", "", anomalies_dir=anomalies.path)
    assert facts["data_anomalies"] == {"anomalies": _written(anomalies)["anomalies"], "baseline_version": 1}
    assert collect("", "", "")["data_anomalies"] is None  # validate-data did not run
    summary = build_summary("r1", "/runs/r1", "/runs/r1/log", {}, facts, 1.0)
    assert "  anomalies 2 mild (data checks; see the summary)" in format_summary(summary).splitlines()
    assert "anomalies" not in format_summary(build_summary("r1", "/runs/r1", "/runs/r1/log", {}, {}, 1.0))


def test_a_severe_anomaly_stops_the_step_with_one_line(tmp_path: Path):
    statistics = _statistics(tmp_path, _data(seed=2, age_mean=70.0, positives=0.99))
    with pytest.raises(DataValidationError) as raised:
        _run(tmp_path, statistics, _serve(tmp_path, _data(seed=1)))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("column 'age': numeric_js ") and " exceeds stop limit 0.3 (expected served version 1" in (
        message
    )
    assert message.endswith(f"; and 1 more (see {ANOMALIES_FILE})")  # the label moved too
    written = _written(Artifact(uri=str(tmp_path / "validate-data" / "anomalies")))  # written before stopping
    assert [a["column"] for a in written["anomalies"] if a["severity"] == "stop"] == ["age", "churned"]


def test_statistics_missing_from_the_artifact_are_named(tmp_path: Path):
    statistics = _statistics(tmp_path, _data(seed=2))
    (Path(statistics.path) / COLUMN_STATS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=f"{COLUMN_STATS_FILE}: missing; ingest always writes it"):
        _run(tmp_path, statistics, tmp_path / "serving")


def test_the_data_of_the_served_version_is_the_baseline_even_when_the_same(tmp_path: Path):
    """A rerun on the data the served model was trained on has nothing to report."""
    same = _data(seed=1)
    found, anomalies = _run(tmp_path, _statistics(tmp_path, same), _serve(tmp_path, same))
    written = _written(anomalies)
    assert found == 0 and written["anomalies"] == []
    assert all(m["observed"] == 0.0 for m in written["measured"])
    assert np.isfinite([m["observed"] for m in written["measured"]]).all()
