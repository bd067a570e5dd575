"""The whole DAG on Parquet data arriving in daily spans, through the real CLI: a rolling window of spans,
duplicates across spans removed by key, drift measured against the served model's data, and a new span re-running
the data steps."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.cli_runs import bigtrain
from tests.conftest import DEMO_CONFIG

pytestmark = pytest.mark.slow
ARROW_TYPES = {"float": pa.float64(), "int": pa.int64(), "string": pa.string(), "text": pa.string()}
SPAN_ROWS = 700
DUPLICATES = 40  # rows of the first span repeated, under the same keys, in the second


def _typed(cell: str, column: dict) -> object:
    """A demo cell as the config types it (None when empty); ValueError for a malformed one."""
    if cell == "":
        if column.get("missing", "quarantine") == "quarantine" and column.get("role") != "ignore":
            raise ValueError("a required cell is empty")
        return None
    if column["type"] in ("string", "text"):
        return cell
    value = float(cell) if column["type"] == "float" else int(cell)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def _clean_table(work: Path, columns: dict) -> pa.Table:
    """Demo rows typed as the config says (the deliberately malformed ones are dropped: the CSV tests cover them)."""
    made = bigtrain("demo-data", "--rows", str(3 * SPAN_ROWS + 100), "--output", "raw", "--seed", "5", cwd=work)
    assert made.returncode == 0, made.stderr
    rows = []
    for path in sorted((work / "raw").glob("*.csv")):
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if None in row or None in row.values():
                    continue  # wrong field count
                try:
                    rows.append({name: _typed(row[name], column) for name, column in columns.items()})
                except ValueError:
                    continue
    assert len(rows) >= 3 * SPAN_ROWS
    return pa.Table.from_pylist(rows, pa.schema([(n, ARROW_TYPES[c["type"]]) for n, c in columns.items()]))


def _write_span(work: Path, name: str, table: pa.Table) -> None:
    span = work / "spans" / name
    span.mkdir(parents=True)
    pq.write_table(table, span / "part-0.parquet")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    work = tmp_path_factory.mktemp("spans")
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config.pop("cluster", None)
    table = _clean_table(work, config["columns"])
    first, second, third = (table.slice(i * SPAN_ROWS, SPAN_ROWS) for i in range(3))
    _write_span(work, "2026-11-26", first)
    _write_span(work, "2026-11-27", pa.concat_tables([second, first.slice(0, DUPLICATES)]))
    config["data"] = {"source": "spans/{SPAN}/*.parquet", "format": "parquet", "spans": 2, "dedupe": "key"}
    config["training"]["epochs"] = 2
    config["evaluation"]["thresholds"] = {"auc": {"min": 0.55}}
    (work / "run.yaml").write_text(yaml.safe_dump(config))
    summaries = []
    for index in (1, 2):
        if index == 2:
            _write_span(work, "2026-11-28", third)
        result = bigtrain("run", "--config", "run.yaml", "--summary", f"summary{index}.json", cwd=work)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        summaries.append(json.loads((work / f"summary{index}.json").read_text()))
    return work, summaries


def test_a_window_of_parquet_spans_is_read_deduplicated_and_recorded(runs):
    work, (first, _) = runs
    assert first["data_spans"] == ["2026-11-26", "2026-11-27"]
    rows = first["rows"]
    assert rows["input"] == 2 * SPAN_ROWS + DUPLICATES
    assert rows["input"] == rows["train"] + rows["eval"] + rows["test"] + rows["quarantined"]
    assert first["quarantine_reasons"]["duplicate_key"] == DUPLICATES
    first_run = sorted((work / "runs").glob("bigtrain-demo-*"))[0]  # the KFP run directories sort by start time
    quarantine = [
        json.loads(line)
        for path in first_run.glob("ingest/quarantine/*.jsonl")
        for line in path.read_text().splitlines()
    ]
    duplicates = [q for q in quarantine if q["kind"] == "duplicate_key"]
    # The first by (span, file, record) is kept: every duplicate quarantined is a row of the newer span.
    assert len(duplicates) == DUPLICATES and {q["source"] for q in duplicates} == {"2026-11-27/part-0.parquet"}
    entry = json.loads((work / "serving" / "demo" / "1" / "bigtrain_version.json").read_text())
    assert entry["lineage"]["data_spans"] == ["2026-11-26", "2026-11-27"]
    assert (work / "serving" / "demo" / "1" / "column_stats.json").is_file()
    assert first["data_anomalies"]["baseline_version"] is None  # nothing served yet: no drift to measure


def test_a_new_span_moves_the_window_and_reruns_the_data_steps(runs):
    _, (_, second) = runs
    assert second["data_spans"] == ["2026-11-27", "2026-11-28"]
    assert not second["steps"]["ingest"]["cached"] and not second["steps"]["preprocess"]["cached"]
    assert second["rows"]["input"] == 2 * SPAN_ROWS + DUPLICATES
    # The same generator for every span: drift was measured against version 1's data, and none is severe.
    anomalies = second["data_anomalies"]
    assert anomalies["baseline_version"] == 1
    assert all(a["severity"] != "stop" for a in anomalies["anomalies"])
