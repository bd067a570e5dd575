"""Write the hostile and broken inputs of the fault suite, one file per case, deterministically.

Run ``python tests/data/bad/make_bad.py`` to rewrite them in this directory; ``tests/fault/test_hostile_input.py``
checks that the files here are what this script writes. Every file is for the columns of ``columns.json`` beside it
(a key, a float, an int with a fill, a required string and the label).
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = {
    "customer_id": {"type": "string", "role": "key"},
    "x": {"type": "float", "missing": "mean"},
    "n": {"type": "int", "missing": {"fill": 0}},
    "city": {"type": "string", "transform": "vocabulary"},
    "y": {"type": "int", "role": "label"},
}
COLUMNS_FILE = "columns.json"
HEADER = "customer_id,x,n,city,y"
BIG_FIELD_BYTES = 1 << 20


def _row(i: int, x: str = "", city: str = "north", y: int | str | None = None) -> str:
    label = i % 2 if y is None else y
    return f"C{i},{x or i * 0.5},{i},{city},{label}"


def _good(count: int = 8, start: int = 1) -> list[str]:
    return [_row(i) for i in range(start, start + count)]


def _csv(lines: list[str], newline: str = "\n") -> bytes:
    return "".join(line + newline for line in lines).encode("utf-8")


def _parquet_wrong_type() -> bytes:
    """``x`` (declared float) stored as strings."""
    rows = range(1, 7)
    table = pa.table(
        {
            "customer_id": pa.array([f"C{i}" for i in rows]),
            "x": pa.array([f"{i * 0.5}" for i in rows]),
            "n": pa.array(list(rows), type=pa.int64()),
            "city": pa.array(["north"] * len(rows)),
            "y": pa.array([i % 2 for i in rows], type=pa.int64()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="none")
    return sink.getvalue()


def _json_lines(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _good_json(count: int = 8, start: int = 1) -> list[str]:
    return [
        json.dumps({"customer_id": f"C{i}", "x": i * 0.5, "n": i, "city": "north", "y": i % 2})
        for i in range(start, start + count)
    ]


def _examples(count: int = 8, multi_valued: int | None = None) -> list[bytes]:
    """tf.Examples of good rows; row ``multi_valued`` (0-based) has two values for ``x``."""
    from tensorflow.core.example import example_pb2

    records = []
    for i in range(1, count + 1):
        example = example_pb2.Example()
        feature = example.features.feature
        feature["customer_id"].bytes_list.value.append(f"C{i}".encode())
        feature["x"].float_list.value.extend([i * 0.5] * (2 if i - 1 == multi_valued else 1))
        feature["n"].int64_list.value.append(i)
        feature["city"].bytes_list.value.append(b"north")
        feature["y"].int64_list.value.append(i % 2)
        records.append(example.SerializeToString(deterministic=True))  # map order fixed: the file is compared
    return records


def _tfrecord(records: list[bytes], cut: int = 0) -> bytes:
    """TFRecord framing of ``records``, less its last ``cut`` bytes."""
    from beam_jobs.example_encoding import frame_records

    framed = frame_records(records)
    return framed[: len(framed) - cut]


FILES: dict[str, Callable[[], bytes]] = {
    "empty.csv": lambda: b"",
    "header_only.csv": lambda: _csv([HEADER]),
    "wrong_delimiter.csv": lambda: _csv([HEADER.replace(",", ";"), *(line.replace(",", ";") for line in _good())]),
    "ragged_rows.csv": lambda: _csv([HEADER, *_good(6), "C90,1.5,3", "C91,1.5,3,north,1,extra,more"]),
    "open_quote.csv": lambda: _csv([HEADER, *_good(6), 'C90,1.5,3,"north,1', *_good(3, start=20)]),
    "non_utf8.csv": lambda: _csv([HEADER, *_good(6)]) + "C90,1.5,3,z\xfcrich,1\n".encode("latin-1"),
    "big_field.csv": lambda: _csv([HEADER, *_good(6), _row(90, city="b" * BIG_FIELD_BYTES)]),
    "special_floats.csv": lambda: _csv(
        [HEADER, *_good(6), _row(90, x="NaN"), _row(91, x="inf"), _row(92, x="1e308"), _row(93, x="-0.0")]
    ),
    "labels_outside.csv": lambda: _csv([HEADER, *_good(6), _row(90, y=2), _row(91, y=-1), _row(92, y="yes")]),
    "one_class.csv": lambda: _csv([HEADER, *(_row(i, y=1) for i in range(1, 41))]),
    "missing_column.csv": lambda: _csv(["customer_id,x,n,y", *(f"C{i},1.5,{i},1" for i in range(1, 7))]),
    "duplicate_header.csv": lambda: _csv([HEADER + ",x", *(line + ",2.5" for line in _good())]),
    "extra_column.csv": lambda: _csv([HEADER + ",z", *(line + ",7" for line in _good())]),
    "bom.csv": lambda: b"\xef\xbb\xbf" + _csv([HEADER, *_good()]),
    "crlf.csv": lambda: _csv([HEADER, *_good()], newline="\r\n"),
    "gzip_named.csv": lambda: gzip.compress(_csv([HEADER, *_good()]), mtime=0),
    "wrong_type.parquet": _parquet_wrong_type,
    "broken_lines.jsonl": lambda: _json_lines(
        [
            *_good_json(3),
            '{"customer_id": "C90", "x": 1.5,',  # cut short: not JSON
            "[1, 2, 3]",  # JSON, not an object
            '{"customer_id": "C91", "x": {"a": 1}, "n": 1, "city": "north", "y": 0}',  # a nested value
            *_good_json(5, start=20),
        ]
    ),
    "wrong_type.jsonl": lambda: _json_lines(
        [*_good_json(3), '{"customer_id": "C90", "x": true, "n": 1, "city": "north", "y": 0}']
    ),
    "multi_value.tfrecord": lambda: _tfrecord(_examples(multi_valued=2)),
    "truncated.tfrecord": lambda: _tfrecord(_examples(), cut=20),
}


def write_all(directory: Path) -> list[Path]:
    """Write every case and ``columns.json`` into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in FILES.items():
        (directory / name).write_bytes(make())
        written.append(directory / name)
    (directory / COLUMNS_FILE).write_text(json.dumps(COLUMNS, indent=2) + "\n")
    return [*written, directory / COLUMNS_FILE]


if __name__ == "__main__":
    for path in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent):
        print(path)
