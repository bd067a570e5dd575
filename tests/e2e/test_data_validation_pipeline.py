"""The local DAG stops at validate-data, before preprocess and train, when the data breaks the config: here ages
outside the configured range."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest
import yaml

from beam_jobs.data_validation import OUT_OF_RANGE_SHARE
from beam_jobs.layout import ANOMALIES_FILE
from tests.cli_runs import bigtrain
from tests.conftest import DEMO_CONFIG

pytestmark = pytest.mark.slow
NEVER_RAN = ("preprocess", "train", "resolve-baseline", "evaluate", "push", "summarize")


def test_a_severe_anomaly_stops_the_run_before_training(tmp_path: Path):
    made = bigtrain("demo-data", "--rows", "600", "--output", "data/demo", "--seed", "7", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["columns"]["age"]["range"] = {"min": 18, "max": 60}  # the demo's ages reach 90
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))

    result = bigtrain("run", "--config", "run.yaml", "--summary", "summary.json", cwd=tmp_path)

    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]  # stopped by its data, as a bad config
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert not summary["ok"]
    assert not summary["steps"]["ingest"]["cached"]
    assert set(summary["steps"]) & set(NEVER_RAN) == set()
    error = summary["error"]
    assert "validate-data" in error and "\n" not in error
    assert f"DataValidationError: column 'age': {OUT_OF_RANGE_SHARE} " in error
    assert re.search(
        r"exceeds stop limit 0\.01 \(expected values in \[18, 60\]; seen [\d.]+ to [\d.]+ in \d+ values\)$", error
    )
    assert "train" not in {p.name for p in (tmp_path / "runs").glob("bigtrain-demo-*/*")}
    (written,) = (tmp_path / "runs").glob(f"bigtrain-demo-*/validate-data/anomalies/{ANOMALIES_FILE}")
    anomalies = json.loads(written.read_text())["anomalies"]
    assert [(a["column"], a["statistic"], a["severity"]) for a in anomalies] == [("age", OUT_OF_RANGE_SHARE, "stop")]
    assert anomalies[0]["message"] in error
    # The estimate from the quantiles is near the share of the ages in the files above 60.
    ages = [float(row["age"]) for row in _rows(tmp_path / "data" / "demo") if _number(row.get("age"))]
    assert anomalies[0]["observed"] == pytest.approx(sum(age > 60 for age in ages) / len(ages), abs=0.02)


def _rows(directory: Path) -> list[dict]:
    return [row for path in sorted(directory.glob("*.csv")) for row in csv.DictReader(path.open())]


def _number(text: str | None) -> bool:
    try:
        return text is not None and math.isfinite(float(text))
    except ValueError:
        return False
