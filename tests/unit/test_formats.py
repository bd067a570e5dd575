"""Ingest reads Parquet, JSON Lines and TFRecord of tf.Example like CSV: the same table gives the same splits, rows and
quarantine in every format; each format's own ways of being wrong are quarantined with source and line, or stop the
run with one line naming the file (a type the config does not take, columns that differ from the config, content that
is another format)."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beam_jobs.chunks import IngestError
from beam_jobs.contract import parse_columns
from beam_jobs.example_encoding import frame_records
from beam_jobs.ingest import source_names
from beam_jobs.jsonl_source import parse_block
from beam_jobs.jsonl_source import read_chunks as read_jsonl
from beam_jobs.typed_text import to_text
from tests.unit.format_files import (
    COLUMNS,
    SUFFIXES,
    example,
    examples,
    feature,
    ingest,
    quarantine,
    table,
    write_table,
)

FORMATS = ("csv", "parquet", "jsonl", "tfrecord")
TABLE_KINDS = {"C6": "bad_number", "C7": "bad_label", "C8": "missing_label", "C9": "missing_required"}


@pytest.fixture(scope="module")
def by_format(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """The same table in two files per format, ingested in blocks small enough to make several chunks per file."""
    rows = table()
    results = {}
    for data_format in FORMATS:
        root = tmp_path_factory.mktemp(data_format)
        suffix = SUFFIXES[data_format]
        write_table(root / "in" / f"a{suffix}", data_format, rows[:25])
        write_table(root / "in" / f"b{suffix}", data_format, rows[25:])
        stats, paths = ingest([str(root / "in" / "*")], root / "out", data_format, block_bytes=256)
        results[data_format] = (stats, examples(paths), quarantine(paths))
    return results


@pytest.mark.parametrize("data_format", FORMATS[1:])
def test_every_format_ingests_the_table_as_csv_does(by_format, data_format):
    csv_stats, csv_examples, csv_quarantine = by_format["csv"]
    stats, rows, quarantined = by_format[data_format]
    assert stats.format == data_format and csv_stats.format == "csv"
    counts = ("input", "train", "eval", "test", "quarantined", "quarantine_reasons", "labels")
    assert {k: getattr(stats, k) for k in counts} == {k: getattr(csv_stats, k) for k in counts}
    assert stats.input == 40 and stats.train + stats.eval + stats.test + stats.quarantined == 40
    assert rows == csv_examples  # same keys in the same splits, same typed values, missing values absent
    assert rows["train"] and all(rows[split] for split in ("eval", "test"))
    assert {q["row"]["customer_id"]: q["kind"] for q in quarantined} == TABLE_KINDS
    assert {q["row"]["customer_id"]: q["kind"] for q in csv_quarantine} == TABLE_KINDS


def test_missing_values_are_absent_and_floats_are_kept_as_csv_keeps_them(by_format):
    for data_format in FORMATS:
        _, rows, _ = by_format[data_format]
        kept = {row["customer_id"]: row for split in rows.values() for row in split}
        assert "x" not in kept["C5"] and "n" not in kept["C10"], data_format
        assert kept["C1"]["x"] == float(np.float32(0.35)) and kept["C1"]["n"] == 993, data_format


def test_quarantine_records_name_the_file_and_line_of_each_format(by_format):
    # CSV counts the header as record 1; JSON Lines numbers lines; Parquet and TFRecord number records from 1.
    first_line = {"csv": 2, "parquet": 1, "jsonl": 1, "tfrecord": 1}
    for data_format in FORMATS:
        _, _, quarantined = by_format[data_format]
        found = {q["row"]["customer_id"]: (q["source"], q["line"]) for q in quarantined}
        suffix = SUFFIXES[data_format]
        number = {key: int(key[1:]) - 1 + first_line[data_format] for key in TABLE_KINDS}
        assert found == {key: (f"a{suffix}", n) for key, n in number.items()}, data_format


def test_parquet_nan_inf_and_bytes_that_are_not_utf8(tmp_path: Path):
    schema = pa.schema(
        [("customer_id", pa.string()), ("x", pa.float32()), ("n", pa.int32()), ("city", pa.binary()), ("y", pa.int8())]
    )
    rows = [
        {"customer_id": "P1", "x": 1.5, "n": 1, "city": b"north", "y": 0},
        {"customer_id": "P2", "x": math.inf, "n": 2, "city": b"north", "y": 1},
        {"customer_id": "P3", "x": 2.5, "n": 3, "city": b"s\xffuth", "y": 1},
        {"customer_id": "P4", "x": None, "n": None, "city": b"east", "y": 3},
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "p.parquet")
    stats, paths = ingest([str(tmp_path / "*.parquet")], tmp_path / "out", "parquet")
    assert (stats.input, stats.quarantined) == (4, 3)
    by_line = {q["line"]: q for q in quarantine(paths)}
    assert by_line[2]["kind"] == "bad_number" and by_line[2]["reason"] == "column 'x': cannot parse 'inf' as float"
    assert by_line[3] == {
        "source": "p.parquet",
        "line": 3,
        "kind": "bad_encoding",
        "reason": "column 'city' is not valid UTF-8",
        "row": {"customer_id": "P3", "x": "2.5", "n": "3", "city": "s\\xffuth", "y": "1"},
    }
    assert by_line[4]["kind"] == "bad_label" and by_line[4]["reason"] == "label 'y' must be 0 or 1, got '3'"


def test_parquet_values_convert_without_loss(tmp_path: Path):
    rng = np.random.default_rng(5)
    floats = rng.integers(0, 2**32, 400, dtype=np.uint64).astype(np.uint32).view(np.float32)
    floats = floats[np.isfinite(floats)][:300]
    keys = np.concatenate([[-(2**63), 2**63 - 1, 0, 2**53 + 1], rng.integers(-(2**62), 2**62, 296)])
    # (column statistics cast ints to float64 and refuse any beyond 2**53, so the int feature stays within)
    ints = np.concatenate([[-(2**53), 2**53, 0, 1], rng.integers(-(2**53), 2**53, 296)])
    columns = {
        "customer_id": {"type": "string", "role": "key"},
        "x": {"type": "float"},
        "n": {"type": "int"},
        "y": {"type": "int", "role": "label"},
    }
    data = pa.table(
        {
            "customer_id": pa.array(keys, pa.int64()),  # an int64 column declared string: decimal text
            "x": pa.array(floats, pa.float32()),
            "n": pa.array(ints, pa.int64()),
            "y": pa.array(np.arange(300) % 2, pa.int64()),
        }
    )
    pq.write_table(data, tmp_path / "p.parquet")
    stats, paths = ingest([str(tmp_path / "*.parquet")], tmp_path / "out", "parquet", columns=parse_columns(columns))
    assert stats.quarantined == 0
    kept = {row["customer_id"]: row for split in examples(paths).values() for row in split}
    assert len(kept) == 300
    for key, x, n in zip(keys.tolist(), floats.tolist(), ints.tolist(), strict=True):
        assert kept[str(key)]["n"] == n and np.float32(kept[str(key)]["x"]).tobytes() == np.float32(x).tobytes()


def test_typed_values_become_cell_text():
    assert to_text(pa.array([1, None, -(2**63)], pa.int64())).to_pylist() == [b"1", b"", b"-9223372036854775808"]
    assert to_text(pa.array([0.1, 1e20, math.nan], pa.float64())).to_pylist() == [b"0.1", b"1e+20", b"nan"]
    assert to_text(pa.array([0.1, 1 / 3], pa.float32())).to_pylist() == [b"0.1", b"0.33333334"]
    assert to_text(pa.array(["a", None]).dictionary_encode()).to_pylist() == [b"a", b""]
    assert to_text(pa.array([None, None], pa.null())).to_pylist() == [b"", b""]


def test_tfrecord_several_values_bad_bytes_empty_lists_and_mixed_kinds(tmp_path: Path):
    import tensorflow as tf

    records = [
        example({"customer_id": "T1", "x": 1.5, "n": 1, "city": "north", "y": 0}),
        example({"customer_id": "T2", "x": [1.0, 2.0], "n": 2, "city": "north", "y": 1}),
        example({"customer_id": "T3", "x": 2.5, "n": 3, "city": b"s\xffuth", "y": 1}),
        example({"customer_id": "T4", "x": 4, "n": 4, "city": "east", "y": 0}),  # int64_list in a float column
        tf.train.Example(
            features=tf.train.Features(
                feature={  # empty lists (of any kind) are missing values
                    "customer_id": feature("T5"),
                    "x": feature([]),
                    "city": feature("west"),
                    "y": feature([]),
                }
            )
        ).SerializeToString(),
    ]
    (tmp_path / "t.tfrecord").write_bytes(gzip.compress(frame_records(records)))  # gzip, not named so
    stats, paths = ingest([str(tmp_path / "t.tfrecord")], tmp_path / "out", "tfrecord")
    assert (stats.input, stats.quarantined) == (5, 3)
    assert stats.quarantine_reasons == {"multiple_values": 1, "bad_encoding": 1, "missing_label": 1}
    by_line = {q["line"]: q for q in quarantine(paths)}
    assert by_line[2] == {
        "source": "t.tfrecord",
        "line": 2,
        "kind": "multiple_values",
        "reason": "feature 'x' has 2 values; a column holds one",
        "row": {"customer_id": "T2", "x": "[1, 2]", "n": "2", "city": "north", "y": "1"},
    }
    assert by_line[3]["kind"] == "bad_encoding" and by_line[3]["row"]["city"] == "s\\xffuth"
    assert by_line[5]["kind"] == "missing_label" and "x" not in by_line[5]["row"]
    kept = {row["customer_id"]: row for split in examples(paths).values() for row in split}
    assert kept["T4"]["x"] == 4.0 and kept["T1"]["x"] == 1.5


def test_jsonl_lines_that_are_not_objects_nested_values_strings_and_bad_bytes(tmp_path: Path):
    good = '{"customer_id": "J%d", "x": 1.5, "n": 2, "city": "north", "y": 1}'
    lines = [
        good % 1,
        "",  # blank: a line, but no record
        "[1, 2]",
        '{"customer_id": "J4", "x": 1.5',
        '{"customer_id": "J5", "x": {"a": 1}, "n": 2, "city": "north", "y": 1}',
        '{"customer_id": "J6", "x": "12.5", "n": "7", "city": "north", "y": 0}',  # strings: read like CSV cells
        '{"customer_id": "J7", "x": "abc", "n": 2, "city": "north", "y": 0}',
        '{"customer_id": "J8", "customer_id": "J9", "x": 1, "city": "north", "y": 0}',
        '{"customer_id": "J10", "x": 1, "city": "s\xffuth", "y": 0}',
        good % 11 + " " + good % 12,
        '{"customer_id": 13, "x": NaN, "n": null, "city": "north", "y": 1}',
    ]
    data = "\n".join(lines).encode("utf-8").replace("\xff".encode(), b"\xff")
    (tmp_path / "j.jsonl").write_bytes(b"\xef\xbb\xbf" + data)  # a byte order mark, and no newline at the end
    stats, paths = ingest([str(tmp_path / "*.jsonl")], tmp_path / "out", "jsonl", block_bytes=128)
    assert stats.input == 10 and stats.train + stats.eval + stats.test == 2
    by_line = {q["line"]: q for q in quarantine(paths)}
    assert {line: q["kind"] for line, q in by_line.items()} == {
        3: "bad_json",
        4: "bad_json",
        5: "bad_json",
        7: "bad_number",
        8: "bad_json",
        9: "bad_encoding",
        10: "bad_json",
        11: "bad_number",
    }
    assert by_line[3] == {
        "source": "j.jsonl",
        "line": 3,
        "kind": "bad_json",
        "reason": "the line holds a JSON array, not an object",
        "row": {},
        "raw": "[1, 2]",
    }
    assert by_line[4]["reason"].startswith("not valid JSON: ") and by_line[4]["raw"] == lines[3]
    assert by_line[5]["reason"] == "column 'x' holds a JSON object, not a single value"
    assert by_line[5]["row"]["x"] == '{"a": 1}'
    assert by_line[7]["reason"] == "column 'x': cannot parse 'abc' as float"
    assert by_line[8]["reason"] == "not a JSON object of single values: key 'customer_id' appears twice"
    assert by_line[9] == {
        "source": "j.jsonl",
        "line": 9,
        "kind": "bad_encoding",
        "reason": "the line is not valid UTF-8",
        "row": {},
        "raw": '{"customer_id": "J10", "x": 1, "city": "s\\xffuth", "y": 0}',
    }
    assert by_line[11]["reason"] == "column 'x': cannot parse 'nan' as float"
    kept = {row["customer_id"]: row for split in examples(paths).values() for row in split}
    assert kept["J6"]["x"] == 12.5 and kept["J6"]["n"] == 7 and set(kept) == {"J1", "J6"}


def test_jsonl_blocks_keep_line_numbers_and_fall_back_line_by_line(tmp_path: Path):
    lines = [json.dumps({"customer_id": f"K{i}", "y": i % 2}) for i in range(1, 200)]
    lines[150] = json.dumps({"customer_id": "K151", "n": 2**63, "y": 1})  # beyond int64: the block goes to Python
    path = tmp_path / "k.jsonl"
    path.write_text("\n\n".join(lines) + "\n")  # a blank line between records
    chunks = list(read_jsonl(str(path), parse_columns(COLUMNS), 300))
    assert len(chunks) > 10
    numbers = [n for chunk in chunks for n in chunk.numbers.tolist()]
    assert numbers == [2 * i + 1 for i in range(199)]
    cells = [row for chunk in chunks for row in chunk.cells.to_pylist()]
    assert cells[150]["n"] == b"9223372036854775808" and cells[150]["customer_id"] == b"K151"
    assert cells[0] == {"customer_id": b"K1", "x": b"", "n": b"", "city": b"", "y": b"1"}


def test_jsonl_blocks_of_plain_values_are_parsed_at_once(tmp_path: Path):
    columns = parse_columns(COLUMNS)
    dates = [{"customer_id": f"2026-01-0{i}", "x": i / 3, "n": i, "city": "2026-11-28 10:00", "y": 1} for i in (1, 2)]
    block = "".join(json.dumps(row) + "\n" for row in dates).encode()
    parsed = parse_block("p.jsonl", block, np.array([1, 2]), columns)  # date-like text stays text
    assert parsed is not None and parsed.cells.to_pylist() == [
        {"customer_id": b"2026-01-01", "x": b"0.3333333333333333", "n": b"1", "city": b"2026-11-28 10:00", "y": b"1"},
        {"customer_id": b"2026-01-02", "x": b"0.6666666666666666", "n": b"2", "city": b"2026-11-28 10:00", "y": b"1"},
    ]
    numbers = b'{"customer_id": 7, "x": "1.5"}\n{"customer_id": 8}\n'  # integers in a text column
    parsed = parse_block("p.jsonl", numbers, np.array([1, 2]), columns)
    assert parsed is not None and parsed.cells.column("customer_id").to_pylist() == [b"7", b"8"]
    assert parse_block("p.jsonl", block + numbers, np.array([1, 2, 3, 4]), columns) is None  # text and numbers mixed
    path = tmp_path / "p.jsonl"
    path.write_bytes(block + numbers)
    (chunk,) = read_jsonl(str(path), columns, 1 << 20)  # line by line, to the same cells
    assert chunk.cells.column("customer_id").to_pylist() == [b"2026-01-01", b"2026-01-02", b"7", b"8"]
    assert chunk.cells.column("x").to_pylist() == [b"0.3333333333333333", b"0.6666666666666666", b"1.5", b""]


def _mid_job_error(tmp_path: Path, data_format: str, name: str, data: bytes, match: str) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(IngestError, match=match) as caught:
        ingest([str(tmp_path / name)], tmp_path / "out", data_format)
    assert "while running" not in str(caught.value) and "\n" not in str(caught.value)


def test_parquet_types_the_config_does_not_take_stop_the_run_naming_file_and_column(tmp_path: Path):
    good = {
        "customer_id": pa.array(["a"]),
        "x": pa.array([1.0]),
        "n": pa.array([1]),
        "city": pa.array(["c"]),
        "y": pa.array([1]),
    }
    declared = ", but the config declares it"
    cases = {
        "n": (pa.array([1.5]), rf"column 'n' holds double values{declared} int \(int takes integers only\)"),
        "x": (pa.array([True]), rf"column 'x' holds bool values{declared} float"),
        "city": (pa.array([[1, 2]]), rf"column 'city' holds list<element: int64> values{declared} string"),
        "customer_id": (pa.array([1.5]), rf"column 'customer_id' holds double values{declared} string"),
        "y": (pa.array([np.datetime64("2026-01-01", "ms")]), r"column 'y' holds timestamp\[ms\] values"),
    }
    for name, (values, match) in cases.items():
        pq.write_table(pa.table({**good, name: values}), tmp_path / f"{name}.parquet")
        with pytest.raises(IngestError, match=rf"{name}\.parquet: {match}"):
            ingest([str(tmp_path / f"{name}.parquet")], tmp_path / "out", "parquet")


def test_parquet_columns_must_be_the_configs(tmp_path: Path):
    good = {"customer_id": ["a"], "x": [1.0], "n": [1], "city": ["c"], "y": [1]}
    pq.write_table(pa.table({**good, "extra": [1]}), tmp_path / "extra.parquet")
    with pytest.raises(IngestError, match=r"extra\.parquet: column\(s\) \['extra'\] are in the data but not in the"):
        ingest([str(tmp_path / "extra.parquet")], tmp_path / "out", "parquet")
    pq.write_table(pa.table({k: v for k, v in good.items() if k != "city"}), tmp_path / "short.parquet")
    with pytest.raises(IngestError, match=r"short\.parquet: config column\(s\) \['city'\] are missing from the data's"):
        ingest([str(tmp_path / "short.parquet")], tmp_path / "out", "parquet")


def test_jsonl_types_and_keys_the_config_does_not_take_stop_the_run(tmp_path: Path):
    row = '{"customer_id": "a", "x": 1, "n": %s, "city": "c", "y": 1}\n'
    _mid_job_error(
        tmp_path,
        "jsonl",
        "f.jsonl",
        (row % 1 + row % 2.5).encode(),
        r"f\.jsonl: line 2: column 'n' holds JSON float values, but the config declares it int",
    )
    _mid_job_error(
        tmp_path, "jsonl", "b.jsonl", (row % "true").encode(), r"b\.jsonl: line 1: column 'n' holds JSON bool values"
    )
    _mid_job_error(
        tmp_path,
        "jsonl",
        "k.jsonl",
        b'{"customer_id": "a", "z": 1, "y": 1}\n',
        r"k\.jsonl: key 'z' is in the data but not in the config's columns",
    )


def test_tfrecord_kinds_features_and_damage_stop_the_run(tmp_path: Path):
    good = {"customer_id": "a", "x": 1.0, "n": 1, "city": "c", "y": 1}
    cases = [
        ("k", [example(good), example({**good, "n": 2.0})], r"record 2: column 'n' holds float_list values, but"),
        ("s", [example({**good, "x": "1.5"})], r"record 1: column 'x' holds bytes_list values, but the config"),
        ("f", [example({**good, "z": 1})], r"feature 'z' is in the data but not in the config's columns"),
        ("e", [example(good), b"\xff\xff not an example"], r"record 2 is not a tf\.Example"),
    ]
    for name, records, message in cases:
        _mid_job_error(
            tmp_path, "tfrecord", f"{name}.tfrecord", frame_records(records), rf"{name}\.tfrecord: {message}"
        )
    damaged = bytearray(frame_records([example(good)] * 3))
    damaged[-3] ^= 1
    _mid_job_error(tmp_path, "tfrecord", "d.tfrecord", bytes(damaged), r"d\.tfrecord: bad record checksum at byte")


@pytest.mark.parametrize(
    ("written", "name", "read_as", "message"),
    [
        ("parquet", "p.csv", "csv", "looks like Parquet, but data.format is csv"),
        ("csv", "c.parquet", "parquet", "looks like CSV, but data.format is parquet"),
        ("csv", "c.tfrecord", "tfrecord", "looks like CSV, but data.format is tfrecord"),
        ("csv", "c.jsonl", "jsonl", "looks like CSV, but data.format is jsonl"),
        ("jsonl", "j.csv", "csv", "looks like JSON Lines, but data.format is csv"),
        ("tfrecord", "t.parquet", "parquet", "looks like TFRecord, but data.format is parquet"),
        ("parquet", "p.tfrecord", "tfrecord", "looks like Parquet, but data.format is tfrecord"),
    ],
)
def test_content_of_another_format_fails_fast_naming_the_file(tmp_path: Path, written, name, read_as, message):
    write_table(tmp_path / name, written, table(12))
    with pytest.raises(IngestError, match=rf"{name.replace('.', '[.]')}: {message}$"):
        ingest([str(tmp_path / name)], tmp_path / "out", read_as)


def test_gzip_parquet_is_refused_and_gzip_csv_read_as_jsonl_is_named(tmp_path: Path):
    write_table(tmp_path / "p.parquet", "parquet", table(12))
    (tmp_path / "p.parquet.gz").write_bytes(gzip.compress((tmp_path / "p.parquet").read_bytes()))
    with pytest.raises(IngestError, match=r"p\.parquet\.gz: a gzip-compressed Parquet file cannot be streamed"):
        ingest([str(tmp_path / "p.parquet.gz")], tmp_path / "out", "parquet")
    write_table(tmp_path / "c.csv", "csv", table(12))
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress((tmp_path / "c.csv").read_bytes()))
    with pytest.raises(IngestError, match=r"c\.csv\.gz: looks like gzip-compressed CSV, but data\.format is jsonl"):
        ingest([str(tmp_path / "c.csv.gz")], tmp_path / "out", "jsonl")
    (tmp_path / "z.parquet").write_bytes(b"\x00\x01binary")
    with pytest.raises(IngestError, match=r"z\.parquet: is not a Parquet file"):
        ingest([str(tmp_path / "z.parquet")], tmp_path / "out", "parquet")
    with pytest.raises(IngestError, match=r"data\.format 'xml' is not one of csv, parquet, jsonl, tfrecord"):
        ingest([str(tmp_path / "z.parquet")], tmp_path / "out", "xml")


def test_sources_are_paths_under_the_deepest_common_directory():
    assert source_names(["/d/a.csv"]) == {"/d/a.csv": "a.csv"}
    assert source_names(["/d/a.csv", "/d/b.csv"]) == {"/d/a.csv": "a.csv", "/d/b.csv": "b.csv"}
    spans = ["gs://b/data/span-1/a.csv", "gs://b/data/span-2/a.csv", "gs://b/data/span-2/x/c.csv"]
    assert list(source_names(spans).values()) == ["span-1/a.csv", "span-2/a.csv", "span-2/x/c.csv"]
    assert list(source_names(["/d/a.csv", "/d/x/a.csv"]).values()) == ["a.csv", "x/a.csv"]


TEXT_COLUMNS = {
    **COLUMNS,
    "subject": {"type": "text", "transform": {"tokens": {"vocab_size": 50, "max_tokens": 8}}, "missing": {"fill": ""}},
}


def test_a_text_column_reads_alike_in_every_format(tmp_path: Path):
    rows = [{**row, "subject": f"Late delivery {i % 3} again" if i % 4 else None} for i, row in enumerate(table(12))]
    read = {}
    for data_format in FORMATS:
        path = write_table(tmp_path / data_format / f"a{SUFFIXES[data_format]}", data_format, rows, TEXT_COLUMNS)
        stats, paths = ingest([str(path)], tmp_path / f"out-{data_format}", data_format, parse_columns(TEXT_COLUMNS))
        read[data_format] = (stats.input, stats.quarantine_reasons, examples(paths))
    assert all(result == read["csv"] for result in read.values())
    kept = [row for split in read["csv"][2].values() for row in split]
    subjects = {row.get("subject") for row in kept}  # a missing one is absent: the graph fills it
    assert subjects == {f"Late delivery {i} again" for i in range(3)} | {None}
