"""Ingest: header checks fail fast with the file and column named; every data line becomes one record."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest
import tensorflow as tf

from beam_jobs.ingest import IngestError, check_header, run_ingest, split_line
from beam_jobs.records import ERROR, RAW, decode_ingested

HEADER = (
    "customer_id,age,income,monthly_spend,tenure_months,support_calls,plan,region,device,hour,signup_channel,notes,"
    "churned"
)


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def test_header_must_match_the_config(demo_config):
    columns = HEADER.split(",")
    check_header("a.csv", columns, demo_config.contract)
    with pytest.raises(IngestError, match=r"a.csv: column\(s\) \['extra'\] are in the data but not in the config"):
        check_header("a.csv", [*columns, "extra"], demo_config.contract)
    with pytest.raises(IngestError, match=r"\['notes'\] are missing from the data's header"):
        check_header("a.csv", [c for c in columns if c != "notes"], demo_config.contract)


def test_split_line_marks_wrong_field_count():
    header = ["a", "b", "c"]
    expected = {"a": "1", "b": "x, y", "c": "3", "_source": "f.csv"}
    assert decode_ingested(split_line("f.csv", '1,"x, y",3', header)) == expected
    bad = decode_ingested(split_line("f.csv", "1,2", header))
    assert bad[ERROR] == "wrong column count: expected 3 fields, got 2" and bad[RAW] == "1,2"


def test_run_ingest_keeps_every_row(tmp_path: Path, demo_config):
    data = tmp_path / "data"
    data.mkdir()
    row = "C{},40,50000,20,10,1,basic,north,pixel,3,web,,0"
    _write(data / "a.csv", [HEADER, row.format(1), row.format(2), "C3,too,few"])
    _write(data / "b.csv", [HEADER, row.format(4), "", row.format(5)])
    result = run_ingest(str(data / "*.csv"), demo_config.contract, str(tmp_path / "out"))
    assert result.rows == 5
    records = [
        decode_ingested(r.numpy())
        for f in glob.glob(result.output_pattern)
        for r in tf.data.TFRecordDataset(f, compression_type="GZIP")
    ]
    assert len(records) == 5
    assert sorted(r.get("customer_id", "-") for r in records) == ["-", "C1", "C2", "C4", "C5"]
    assert sum(ERROR in r for r in records) == 1


def test_run_ingest_fails_fast_on_no_files_or_bad_header(tmp_path: Path, demo_config):
    with pytest.raises(IngestError, match=r"data\.source: no files match"):
        run_ingest(str(tmp_path / "*.csv"), demo_config.contract, str(tmp_path / "out"))
    _write(tmp_path / "a.csv", ["x,y", "1,2"])
    with pytest.raises(IngestError, match="are in the data but not in the config"):
        run_ingest(str(tmp_path / "*.csv"), demo_config.contract, str(tmp_path / "out"))
