"""Ingest: header checks fail fast naming the file; every input record ends in exactly one of train, eval, test or
quarantine, splits follow the key hash, raw examples are typed with missing values absent, and stats add up."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest
import tensorflow as tf

from beam_jobs.cleaning import whole_row_key
from beam_jobs.contract import parse_columns
from beam_jobs.ingest import (
    CountMismatchError,
    IngestError,
    IngestPaths,
    IngestStats,
    check_header,
    main,
    read_header,
    run_ingest,
)
from beam_jobs.layout import SPLITS, split_files
from beam_jobs.records import decode_typed
from beam_jobs.split import assign_split

HEADER = (
    "customer_id,age,income,monthly_spend,tenure_months,support_calls,plan,region,device,hour,signup_channel,notes,"
    "ticket_subject,churned"
)
ROW = "C{},40,50000,20,10,1,basic,north,pixel,3,web,,,0"
RATIOS = {"train": 0.6, "eval": 0.2, "test": 0.2}


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def _examples(directory: str, split: str) -> list[bytes]:
    files = sorted(glob.glob(split_files(directory, split)))
    assert files, f"no {split} files in {directory}"
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _quarantine(paths: IngestPaths) -> list[dict]:
    files = sorted(glob.glob(str(Path(paths.quarantine) / "part*.jsonl")))
    return [json.loads(line) for f in files for line in Path(f).read_text().splitlines()]


def test_header_must_match_the_config(demo_config):
    columns = HEADER.split(",")
    check_header("a.csv", columns, demo_config.contract)
    with pytest.raises(IngestError, match=r"a.csv: column\(s\) \['extra'\] are in the data but not in the config"):
        check_header("a.csv", [*columns, "extra"], demo_config.contract)
    with pytest.raises(IngestError, match=r"\['notes'\] are missing from the data's header"):
        check_header("a.csv", [c for c in columns if c != "notes"], demo_config.contract)
    with pytest.raises(IngestError, match=r"header repeats column\(s\) \['age'\]"):
        check_header("a.csv", [*columns, "age"], demo_config.contract)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, demo_config) -> tuple[IngestPaths, IngestStats]:
    """Two small files: good rows, every kind of bad row, a quoted newline, blank lines."""
    data = tmp_path_factory.mktemp("data")
    rows = [ROW.format(i) for i in range(1, 41)]
    _write(
        data / "a.csv",
        [
            HEADER,
            *rows[:20],
            "C900,too,few",  # wrong column count
            'C901,40,50000,20,10,1,basic,north,pixel,3,web,"two\nlines, one record",Slow app,1',  # quoted newline
            "C902,abc,50000,20,10,1,basic,north,pixel,3x,web,,,1",  # two bad numbers
            "C903,40,50000,20,10,1,basic,,pixel,3,web,,,",  # missing required + missing label
        ],
    )
    _write(
        data / "b.csv",
        [
            HEADER,
            *rows[20:],
            "",
            "C904,40,50000,20,10,1,basic,north,pixel,3,web,,,2",  # bad label
            "C905,,,,,,,south,,4,,,,1",  # imputable features and the slice missing: kept
        ],
    )
    paths = IngestPaths.under(str(tmp_path_factory.mktemp("out")))
    return paths, run_ingest(str(data / "*.csv"), demo_config.contract, RATIOS, paths)


def test_every_record_lands_exactly_once_and_stats_add_up(ingested):
    paths, stats = ingested
    assert stats.input == 46
    assert stats.quarantined == 4 and stats.train + stats.eval + stats.test == 42
    assert stats.quarantine_reasons == {"wrong_column_count": 1, "bad_number": 1, "missing_required": 1, "bad_label": 1}
    written = json.loads(Path(paths.stats).read_text())
    counts = {"input", "train", "eval", "test", "quarantined", "quarantine_reasons", "labels"}
    assert set(written) == {*counts, "files", "format"} and written["format"] == "csv"
    assert written == {**stats.__dict__, "files": stats.files} and len(stats.files) == 2
    ids = [decode_typed(r)["customer_id"] for split in SPLITS for r in _examples(paths.examples, split)]
    ids += [q["row"].get("customer_id") or q["raw"].split(",")[0] for q in _quarantine(paths)]
    assert sorted(ids) == sorted([f"C{i}" for i in range(1, 41)] + [f"C{i}" for i in range(900, 906)])


def test_splits_follow_the_key_hash(ingested):
    paths, stats = ingested
    for split in SPLITS:
        keys = [decode_typed(r)["customer_id"] for r in _examples(paths.examples, split)]
        assert len(keys) == getattr(stats, split)
        assert all(assign_split(key, RATIOS) == split for key in keys), split


def test_quarantine_records_kind_reason_cells_and_raw_text(ingested):
    paths, _ = ingested
    by_id = {q["row"].get("customer_id") or q["raw"].split(",")[0]: q for q in _quarantine(paths)}
    assert by_id["C900"] == {
        "source": "a.csv",
        "line": 22,
        "kind": "wrong_column_count",
        "reason": "wrong column count: expected 14 fields, got 3",
        "row": {},
        "raw": "C900,too,few",
    }
    assert by_id["C902"]["kind"] == "bad_number"
    assert (
        by_id["C902"]["reason"] == "column 'age': cannot parse 'abc' as float; column 'hour': cannot parse '3x' as int"
    )
    assert by_id["C903"]["kind"] == "missing_required"
    assert by_id["C903"]["reason"] == "missing required value in 'region'; missing label 'churned'"
    assert "region" not in by_id["C903"]["row"] and by_id["C903"]["row"]["age"] == "40"
    assert by_id["C904"]["source"] == "b.csv" and by_id["C904"]["kind"] == "bad_label"


def test_raw_examples_are_typed_and_missing_values_are_absent(ingested):
    paths, _ = ingested
    rows = {}
    for split in SPLITS:
        for record in _examples(paths.examples, split):
            example = tf.train.Example.FromString(record)
            values = decode_typed(record)
            rows[values["customer_id"]] = (set(example.features.feature), values)
    names, quoted = rows["C901"]
    assert "notes" not in names  # ignored columns are not kept
    assert quoted["churned"] == 1 and quoted["hour"] == 3 and quoted["age"] == 40.0 and quoted["region"] == "north"
    names, sparse = rows["C905"]
    assert names == {"customer_id", "region", "hour", "signup_channel", "churned"}  # absent, not empty
    assert sparse["signup_channel"] == "unknown"  # a slice column is filled at ingest


def test_count_check_raises_when_counts_do_not_add_up():
    IngestStats(input=10, train=6, eval=2, test=1, quarantined=1).check()
    with pytest.raises(CountMismatchError, match=r"10 rows in, 9 out"):
        IngestStats(input=10, train=6, eval=2, test=1, quarantined=0).check()


def test_fails_fast_on_no_files_or_bad_header(tmp_path: Path, demo_config):
    paths = IngestPaths.under(str(tmp_path / "out"))
    with pytest.raises(IngestError, match=r"data\.source: no files match"):
        run_ingest(str(tmp_path / "*.csv"), demo_config.contract, RATIOS, paths)
    _write(tmp_path / "a.csv", ["x,y", "1,2"])
    with pytest.raises(IngestError, match=r"a.csv: column\(s\) \['x', 'y'\] are in the data but not in the config"):
        run_ingest(str(tmp_path / "*.csv"), demo_config.contract, RATIOS, paths)
    (tmp_path / "a.csv").write_text("")
    with pytest.raises(IngestError, match=r"a\.csv: the file is empty or has no header line"):
        read_header(str(tmp_path / "a.csv"))


def test_keyless_split_hashes_the_whole_row_and_cli_prints_stats(tmp_path: Path, capsys):
    columns = {
        "x": {"type": "float"},
        "s": {"type": "string", "transform": "vocabulary"},
        "y": {"type": "int", "role": "label"},
    }
    (tmp_path / "columns.json").write_text(json.dumps(columns))
    _write(tmp_path / "d.csv", ["x,s,y", *(f"{i},s{i % 3},{i % 2}" for i in range(30)), "1,a,1", "1,a,1"])
    out = tmp_path / "out"
    main(["--source", str(tmp_path / "d.csv"), "--columns-json", str(tmp_path / "columns.json"),
          "--output", str(out), "--split", "0.5,0.5,0"])  # fmt: skip
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["input"] == 32 and printed["test"] == 0 and printed["train"] + printed["eval"] == 32
    contract = parse_columns(columns)
    ratios = {"train": 0.5, "eval": 0.5, "test": 0.0}
    seen = []
    for split in ("train", "eval"):
        for record in _examples(str(out / "examples"), split):
            values = decode_typed(record)
            cells = {"x": str(int(values["x"])), "s": values["s"], "y": str(values["y"])}
            assert assign_split(whole_row_key(cells, contract), ratios) == split
            seen.append(cells["s"])
    assert len(seen) == 32 and seen.count("a") == 2
    assert _examples(str(out / "examples"), "test") == []  # an empty split still gets an (empty) shard
