"""One small table written as CSV, Parquet, JSON Lines or TFRecord of tf.Example, for the ingest format tests, and
readers of what ingest wrote."""

from __future__ import annotations

import glob
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf

from beam_jobs.contract import Columns, parse_columns
from beam_jobs.example_encoding import frame_records
from beam_jobs.ingest import IngestPaths, IngestStats, run_ingest
from beam_jobs.layout import SPLITS, split_files
from beam_jobs.records import decode_typed

COLUMNS = {
    "customer_id": {"type": "string", "role": "key"},
    "x": {"type": "float", "missing": "mean"},
    "n": {"type": "int", "missing": {"fill": 0}},
    "city": {"type": "string", "transform": "vocabulary"},  # required: a row without it is quarantined
    "y": {"type": "int", "role": "label"},
}
CONTRACT: Columns = parse_columns(COLUMNS)
RATIOS = {"train": 0.6, "eval": 0.2, "test": 0.2}
ARROW_TYPES = {"float": pa.float64(), "int": pa.int64(), "string": pa.string(), "text": pa.string()}
SUFFIXES = {"csv": ".csv", "parquet": ".parquet", "jsonl": ".jsonl", "tfrecord": ".tfrecord"}


def table(count: int = 40) -> list[dict[str, Any]]:  # count >= 10
    """``count`` good rows, then a row of each quarantine reason every format can hold, and missing values."""
    rows: list[dict[str, Any]] = [
        {
            "customer_id": f"C{i}",
            "x": i * 0.25 + 0.1,
            "n": i * 1000 - 7,
            "city": ("north", "south", "east")[i % 3],
            "y": i % 2,
        }
        for i in range(1, count + 1)
    ]
    rows[4]["x"] = None  # a missing feature: kept, imputed later
    rows[5]["x"] = math.nan  # bad_number
    rows[6]["y"] = 2  # bad_label
    rows[7]["y"] = None  # missing_label
    rows[8]["city"] = None  # missing_required
    rows[9]["n"] = None  # a missing feature
    return rows


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    return "NaN" if isinstance(value, float) and math.isnan(value) else str(value)


def feature(value: Any) -> tf.train.Feature:
    """A tf.Example feature of one value, or of each value of a list."""
    values = value if isinstance(value, list) else [value]
    if all(isinstance(v, float) for v in values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    if all(isinstance(v, int) for v in values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    raw = [v if isinstance(v, bytes) else str(v).encode() for v in values]
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=raw))


def example(row: dict[str, Any]) -> bytes:
    """A serialized tf.Example of a row; None values are absent features."""
    features = {name: feature(value) for name, value in row.items() if value is not None}
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def write_table(
    path: Path, data_format: str, rows: list[dict[str, Any]], columns: dict[str, Any] = COLUMNS
) -> Path:
    """``rows`` (None = missing) as a file of ``data_format`` with ``columns`` (the test columns); returns
    ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(columns)
    if data_format == "csv":
        lines = [",".join(names)] + [",".join(_csv_cell(row.get(n)) for n in names) for row in rows]
        path.write_text("\n".join(lines) + "\n")
    elif data_format == "parquet":
        schema = pa.schema([(n, ARROW_TYPES[columns[n]["type"]]) for n in names])
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    elif data_format == "jsonl":
        # A missing value is a null on even rows and an absent key on odd ones: both are missing.
        kept = [{n: v for n, v in row.items() if v is not None or i % 2 == 0} for i, row in enumerate(rows)]
        lines = [json.dumps(row) for row in kept]
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_bytes(frame_records([example(row) for row in rows]))
    return path


def ingest(
    sources: list[str], root: Path, data_format: str, columns: Columns = CONTRACT, **options: Any
) -> tuple[IngestStats, IngestPaths]:
    """Run the real ingest (DirectRunner) into ``root``."""
    paths = IngestPaths.under(str(root))
    return run_ingest(sources, columns, RATIOS, paths, data_format=data_format, **options), paths


def examples(paths: IngestPaths) -> dict[str, list[dict[str, Any]]]:
    """The raw examples of every split, decoded, sorted by key."""
    out = {}
    for split in SPLITS:
        files = sorted(glob.glob(split_files(paths.examples, split)))
        rows = [decode_typed(r.numpy()) for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
        out[split] = sorted(rows, key=lambda row: row["customer_id"])
    return out


def quarantine(paths: IngestPaths) -> list[dict[str, Any]]:
    """Every quarantine record."""
    files = sorted(glob.glob(str(Path(paths.quarantine) / "part*.jsonl")))
    return [json.loads(line) for f in files for line in Path(f).read_text(encoding="utf-8").splitlines()]
