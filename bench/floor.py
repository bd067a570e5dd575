"""The floor for ingest + preprocess: the same work in ONE process with pyarrow, numpy and tfx_bsl, no Beam, no TF.

``python bench/floor.py --data 'DIR/data/*.csv' --columns-json DIR/columns.json --output OUT [--verify]``

What it does, in the order the real jobs do it:

1. **Read** every CSV file with ``pyarrow.csv`` (multi-threaded), every cell as text; a line with the wrong field
   count goes to quarantine (``wrong_column_count``), as ingest marks it.
2. **Clean**: type each kept column (float/int/string; numbers parsed vectorized, a non-number or non-finite
   float is ``bad_number``), then reject rows with a missing label, a label not 0/1, a missing required value.
   The reason counted is the first one in column order, as ``beam_jobs.cleaning`` does.
3. **Split** by ``sha256(trip_id)``: first 8 bytes big-endian / 2**64 against the cumulative ratios 0.8/0.1/0.1
   (the rule of ``beam_jobs.split``).
4. **Impute** features (mean, mode, fill) and **analyze the train split**: mean/std for zscore (and log, which is
   z-scored log1p), min/max for scale_0_1, quantile boundaries for bucketize, top-k vocabularies.
5. **Transform** every split and **write** gzipped TFRecords of tf.Examples: the typed raw rows and the transformed
   rows per split, plus quarantine JSON lines, ``stats.json`` and the analyzer results (``transform_params.json``
   and one vocabulary file per vocabulary column) in place of tf.Transform's SavedModel.

Examples are encoded by tfx_bsl's C++ ``RecordBatchToExamplesEncoder``; TFRecord framing (length, masked crc32c)
is done here with google_crc32c and compressed with zlib level 6 (Beam's level) in 2 threads. Everything is held
in memory: a floor for time, not for memory. Differences from the real jobs that do not change the amount of work:
a missing value is an empty feature list (the jobs leave the feature out; both parse the same), the hash transform
and OOV buckets use blake2b instead of TF's farmhash, quantiles are exact instead of approximate.

Prints one JSON line: seconds (work, after imports), import seconds, peak RSS, seconds per phase, row counts.
"""

from __future__ import annotations

import time

_PROCESS_START = time.perf_counter()

import argparse  # noqa: E402
import csv  # noqa: E402
import glob  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import struct  # noqa: E402
import zlib  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import google_crc32c  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder  # noqa: E402

from beam_jobs.contract import Columns, ColumnSpec, parse_columns  # noqa: E402

SPLITS = ("train", "eval", "test")
RATIOS = {"train": 0.8, "eval": 0.1, "test": 0.1}
ENCODE_ROWS = 100_000  # rows per encode/frame/compress chunk
GZIP_LEVEL = 6  # zlib.Z_DEFAULT_COMPRESSION, what Beam's WriteToTFRecord uses for .gz
_FLOAT = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
_INT = r"^\s*[-+]?\d+\s*$"


@dataclass
class Rejections:
    """Per row: the first rejection kind (index into KINDS, -1 = clean) and every message, by column."""

    KINDS = ("wrong_column_count", "bad_number", "bad_label", "missing_label", "missing_required", "bad_encoding")
    first: np.ndarray
    masks: list[tuple[str, str, np.ndarray]] = field(default_factory=list)  # (kind, column, row mask)

    def add(self, kind: str, column: str, mask: np.ndarray) -> None:
        if not mask.any():
            return
        self.first[(self.first < 0) & mask] = self.KINDS.index(kind)
        self.masks.append((kind, column, mask))


# ---------------------------------------------------------------- read


@dataclass
class RawTable:
    """All well-formed data lines as text columns, and the lines that were not."""

    table: pa.Table
    sources: np.ndarray  # per row: index into files
    files: list[str]
    bad_lines: list[dict[str, Any]]


def read_csvs(pattern: str, columns: Columns) -> RawTable:
    """Read every file matching ``pattern`` (header checked against the columns), every cell as text."""
    files = sorted(glob.glob(pattern))
    if not files:
        raise SystemExit(f"no files match {pattern!r}")
    tables, sources, bad_lines = [], [], []
    for number, path in enumerate(files):
        with open(path, newline="", encoding="utf-8") as handle:
            header = [h.strip() for h in next(csv.reader([handle.readline()]))]
        if sorted(header) != sorted(columns.columns):
            raise SystemExit(f"{path}: header {header} does not match the columns")

        def invalid(row: Any, path: str = path, expected: int = len(header)) -> str:
            bad_lines.append(
                {
                    "source": os.path.basename(path),
                    "kind": "wrong_column_count",
                    "reason": f"wrong column count: expected {expected} fields, got {row.actual_columns}",
                    "raw": row.text,
                }
            )
            return "skip"

        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=True, block_size=8 << 20),
            parse_options=pacsv.ParseOptions(invalid_row_handler=invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                null_values=[""],  # not Arrow's default list, which reads "n/a" or "NaN" as missing
                strings_can_be_null=True,
            ),
        )
        tables.append(table.select(list(columns.columns)))
        sources.append(np.full(table.num_rows, number, dtype=np.int32))
    return RawTable(pa.concat_tables(tables).combine_chunks(), np.concatenate(sources), files, bad_lines)


# ---------------------------------------------------------------- clean


@dataclass
class Typed:
    """One kept column after cleaning: values (numpy for numbers, Arrow for strings) and where they are present."""

    values: np.ndarray | pa.Array
    present: np.ndarray


def _parse_number(text: pa.Array, column_type: str) -> tuple[pa.Array, np.ndarray]:
    """Numbers from text; returns (typed array with nulls, bad-number mask). The common case is one Arrow cast."""
    target = pa.float64() if column_type == "float" else pa.int64()
    bad = np.zeros(len(text), dtype=bool)
    try:
        typed = pc.cast(text, target)
    except pa.ArrowInvalid:  # some cell is not a number (or has spaces): find which, vectorized
        trimmed = pc.utf8_trim_whitespace(text)
        trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
        ok = pc.fill_null(pc.match_substring_regex(trimmed, _FLOAT if column_type == "float" else _INT), False)
        bad = pc.is_valid(trimmed).to_numpy(zero_copy_only=False) & ~ok.to_numpy(zero_copy_only=False)
        unsigned = pc.replace_substring_regex(trimmed, r"^\+", "")  # Python's int()/float() accept "+5", Arrow not
        typed = pc.cast(pc.if_else(ok, unsigned, pa.scalar(None, pa.string())), target)
    if column_type == "float":
        finite = pc.fill_null(pc.is_finite(typed), True).to_numpy(zero_copy_only=False)
        bad |= ~finite
        typed = pc.if_else(pa.array(finite), typed, pa.scalar(None, target))
    return typed, bad


def clean(raw: RawTable, columns: Columns) -> tuple[dict[str, Typed], Rejections]:
    """Type every kept column and find the rows to quarantine (first reason in column order)."""
    rows = raw.table.num_rows
    rejections = Rejections(np.full(rows, -1, dtype=np.int8))
    typed: dict[str, Typed] = {}
    for name, spec in columns.kept.items():
        text = raw.table.column(name).chunk(0) if raw.table.column(name).num_chunks else pa.array([], pa.string())
        if spec.type == "string":
            values, bad = text, np.zeros(rows, dtype=bool)
        else:
            values, bad = _parse_number(text, spec.type)
        present = pc.is_valid(values).to_numpy(zero_copy_only=False)
        missing = ~present & ~bad
        if spec.role == "label":
            rejections.add("missing_label", name, missing)
        elif spec.missing.kind == "quarantine":
            rejections.add("missing_required", name, missing)
        rejections.add("bad_number", name, bad)
        if spec.role == "label":
            label = pc.fill_null(values, 0).to_numpy()
            rejections.add("bad_label", name, present & ~np.isin(label, (0, 1)))
        if spec.role not in ("feature", "label") and spec.missing.kind == "fill" and missing.any():
            values = pc.fill_null(values, spec.missing.value)
            present = present | missing
        if spec.type != "string":
            dtype = np.float64 if spec.type == "float" else np.int64
            values = pc.fill_null(values, 0).to_numpy().astype(dtype, copy=False)
        typed[name] = Typed(values, present)
    return typed, rejections


# ---------------------------------------------------------------- split


def split_of(keys: pa.Array) -> np.ndarray:
    """Per row 0/1/2 (train/eval/test): sha256 of the key, first 8 bytes big-endian / 2**64 vs cumulative ratios."""
    digests = b"".join([hashlib.sha256(k).digest()[:8] for k in pc.cast(keys, pa.binary()).to_pylist()])
    fraction = np.frombuffer(digests, dtype=">u8").astype(np.float64) / 2.0**64
    bounds, upper = [], 0.0
    for name in SPLITS:
        upper += RATIOS[name]
        bounds.append(upper)
    split = np.searchsorted(np.array(bounds), fraction, side="right")
    last = max(i for i, name in enumerate(SPLITS) if RATIOS[name] > 0)
    return np.minimum(split, last).astype(np.int8)


def split_keys(typed: dict[str, Typed], raw: RawTable, columns: Columns, rows: np.ndarray) -> pa.Array:
    """What the split hashes: the key column, or the whole row's cells when there is no key."""
    if columns.key is not None:
        return pc.take(typed[columns.key].values, pa.array(rows))
    parts = [
        pc.binary_join_element_wise(f"{n}=", pc.fill_null(raw.table.column(n), ""), "") for n in sorted(columns.columns)
    ]
    return pc.take(pc.binary_join_element_wise(*parts, "\x1f"), pa.array(rows))


# ---------------------------------------------------------------- analyze and transform


def _strings(values: np.ndarray | pa.Array) -> pa.Array:
    """A column as Arrow strings (ints as their decimal text, as tf.strings.as_string)."""
    return values if isinstance(values, pa.Array) else pc.cast(pa.array(values), pa.string())


def _ordered_counts(values: pa.Array) -> list[tuple[bytes, int]]:
    """(token, count) sorted by count descending, then token descending (tf.Transform's vocabulary order)."""
    counts = pc.value_counts(pc.drop_null(values))
    tokens = pc.cast(counts.field("values"), pa.binary()).to_pylist()
    pairs = zip(tokens, counts.field("counts").to_pylist(), strict=True)
    return sorted(pairs, key=lambda pair: (pair[1], pair[0]), reverse=True)


def _stable_hash(token: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(token, digest_size=8).digest(), "little")


def _map_tokens(values: pa.Array, mapping: dict[bytes, int], default: Any) -> np.ndarray:
    """Apply a token → id function through the column's distinct values (the per-row work is one take)."""
    encoded = pc.dictionary_encode(pc.cast(values, pa.binary()))
    ids = np.array([mapping[t] if t in mapping else default(t) for t in encoded.dictionary.to_pylist()], dtype=np.int64)
    return ids[encoded.indices.to_numpy(zero_copy_only=False)] if len(ids) else np.zeros(len(values), np.int64)


def impute(typed: Typed, spec: ColumnSpec, train: np.ndarray, params: dict[str, Any]) -> np.ndarray | pa.Array:
    """The column with missing values filled by its rule; mean and mode come from the train rows."""
    values, present = typed.values, typed.present
    if present.all():
        return values
    rule = spec.missing
    if rule.kind == "fill":
        fill = rule.value
    elif rule.kind == "mean":
        fill = float(values[train & present].mean())
        fill = int(np.round(fill)) if spec.type == "int" else fill
    else:  # mode
        strings = _strings(values).filter(pa.array(train & present))
        token = _ordered_counts(strings)[0][0].decode()
        fill = token if spec.type == "string" else (int(token) if spec.type == "int" else float(token))
    params["fill"] = fill
    if isinstance(values, pa.Array):
        return pc.if_else(pa.array(present), values, pa.scalar(fill, values.type))
    return np.where(present, values, fill)


def analyze_and_transform(
    name: str, spec: ColumnSpec, values: np.ndarray | pa.Array, train: np.ndarray, params: dict[str, Any], out: str
) -> np.ndarray:
    """Fit the column's transform on the train rows and apply it to all rows (float32 or int64)."""
    transform = spec.transform
    assert transform is not None
    kind = transform.kind
    if kind == "vocabulary":
        counts = _ordered_counts(_strings(values).filter(pa.array(train)))
        vocab = [t for t, c in counts if c >= transform.min_frequency][: transform.top_k]
        with open(os.path.join(out, "vocabularies", name), "wb") as handle:
            handle.write(b"".join(t + b"\n" for t in vocab))
        params["vocabulary_size"] = len(vocab)
        size, oov = len(vocab), transform.oov_buckets
        ids = {t: i for i, t in enumerate(vocab)}
        return _map_tokens(_strings(values), ids, lambda t: size + _stable_hash(t) % oov)
    if kind == "hash":
        buckets = transform.num_buckets or 1
        return _map_tokens(_strings(values), {}, lambda t: _stable_hash(t) % buckets)
    number = values.astype(np.float64)
    fit = number[train]
    if kind == "log":
        number = np.log1p(np.maximum(number, 0.0))
        fit = number[train]
    if kind in ("zscore", "log"):
        mean, std = float(fit.mean()), float(fit.std())
        params.update(mean=mean, std=std)
        return ((number - mean) / std if std > 0 else number - mean).astype(np.float32)
    if kind == "scale_0_1":
        low, high = float(fit.min()), float(fit.max())
        params.update(min=low, max=high)
        if high > low:
            return ((number - low) / (high - low)).astype(np.float32)
        return (1 / (1 + np.exp(-number))).astype(np.float32)
    if kind == "bucketize":
        buckets = transform.num_buckets or 2
        boundaries = np.unique(np.quantile(fit, np.arange(1, buckets) / buckets))
        params["boundaries"] = boundaries.tolist()
        return np.searchsorted(boundaries, number, side="right").astype(np.int64)
    return number.astype(np.float32)  # identity


# ---------------------------------------------------------------- encode and write


def _list_column(values: np.ndarray | pa.Array, present: np.ndarray | None, column_type: str) -> pa.Array:
    """A column as one-value lists for the encoder; a missing value is an empty list."""
    if present is None:
        offsets = np.arange(len(values) + 1, dtype=np.int32)
    else:
        offsets = np.zeros(len(values) + 1, dtype=np.int32)
        np.cumsum(present, out=offsets[1:])
    if column_type == "string":
        flat = pc.cast(values if present is None else values.filter(pa.array(present)), pa.binary())
    else:
        dtype = np.float32 if column_type == "float" else np.int64
        flat = pa.array((values if present is None else values[present]).astype(dtype, copy=False))
    return pa.ListArray.from_arrays(pa.array(offsets), flat)


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _framed(records: list[bytes]) -> bytes:
    """TFRecord framing: length (u64 LE), masked crc32c of the length, data, masked crc32c of the data."""
    pack_length, pack_crc = struct.Struct("<Q").pack, struct.Struct("<I").pack
    headers: dict[int, bytes] = {}
    parts = []
    for record in records:
        header = headers.get(len(record))
        if header is None:
            length = pack_length(len(record))
            header = headers[len(record)] = length + pack_crc(_masked_crc(length))
        parts += (header, record, pack_crc(_masked_crc(record)))
    return b"".join(parts)


def write_examples(
    path: str, columns: dict[str, tuple[np.ndarray | pa.Array, np.ndarray | None, str]], rows: np.ndarray
) -> int:
    """Encode ``rows`` of the columns as tf.Examples into one gzipped TFRecord file; returns the record count.

    Each column is (values, present mask or None, type); rows are taken a chunk at a time, so no split is copied whole.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    encoder = RecordBatchToExamplesEncoder()
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    with open(path, "wb") as handle:
        for start in range(0, len(rows), ENCODE_ROWS):
            chunk = rows[start : start + ENCODE_ROWS]
            arrays = [
                _list_column(_take(values, chunk), None if present is None else present[chunk], column_type)
                for values, present, column_type in columns.values()
            ]
            batch = pa.RecordBatch.from_arrays(arrays, list(columns))
            handle.write(compressor.compress(_framed(encoder.encode(batch))))
        handle.write(compressor.flush())
    return len(rows)


# ---------------------------------------------------------------- the job


def run_floor(pattern: str, columns: Columns, out: str) -> tuple[dict[str, Any], dict[str, float]]:
    """Read, clean, split, analyze, transform and write; returns the counts (also in ``out/stats.json``) and the
    seconds of each phase."""
    phases: dict[str, float] = {}
    last = [time.perf_counter()]

    def lap(phase: str) -> None:
        now = time.perf_counter()
        phases[phase] = round(now - last[0], 2)
        last[0] = now

    os.makedirs(os.path.join(out, "vocabularies"), exist_ok=True)
    raw = read_csvs(pattern, columns)
    lap("read")
    typed, rejections = clean(raw, columns)
    lap("clean")
    clean_rows = np.flatnonzero(rejections.first < 0)
    split_clean = split_of(split_keys(typed, raw, columns, clean_rows))
    read_rows = raw.table.num_rows
    split = np.full(read_rows, -1, dtype=np.int8)
    split[clean_rows] = split_clean
    write_quarantine(raw, rejections, out)
    raw.table = pa.table({})  # the text cells are no longer needed (typed string columns share their buffers)
    kept = typed
    lap("split+quarantine")

    train = split == 0
    params: dict[str, dict[str, Any]] = {}
    transformed: dict[str, tuple[np.ndarray, None, str]] = {}
    for name, spec in columns.features.items():
        params[name] = {}
        values = impute(kept[name], spec, train, params[name])
        result = analyze_and_transform(name, spec, values, train, params[name], out)
        transformed[name] = (result, None, "float" if result.dtype == np.float32 else "int")
    label = columns.label
    transformed[label] = (kept[label].values.astype(np.float32), None, "float")
    with open(os.path.join(out, "transform_params.json"), "w") as handle:
        json.dump(params, handle, indent=2, sort_keys=True)
    lap("analyze+transform")

    counts: dict[str, int] = {}
    jobs = []
    raw_columns = {column: (t.values, t.present, columns.columns[column].type) for column, t in kept.items()}
    with ThreadPoolExecutor(max_workers=2) as pool:  # zlib releases the GIL: one file compresses while another encodes
        for index, name in enumerate(SPLITS):
            rows = np.flatnonzero(split == index)
            counts[name] = len(rows)
            for kind, cols in (("raw", raw_columns), ("transformed", transformed)):
                path = os.path.join(out, kind, name, "part-00000-of-00001.tfrecord.gz")
                jobs.append(pool.submit(write_examples, path, cols, rows))
        for job in jobs:
            job.result()
    lap("encode+write")
    first = rejections.first[rejections.first >= 0]
    reasons = {kind: int((first == i).sum()) for i, kind in enumerate(Rejections.KINDS)}
    reasons["wrong_column_count"] += len(raw.bad_lines)
    quarantined = int((rejections.first >= 0).sum()) + len(raw.bad_lines)
    stats = {
        "input": read_rows + len(raw.bad_lines),
        **counts,
        "quarantined": quarantined,
        "quarantine_reasons": {k: n for k, n in reasons.items() if n},
    }
    with open(os.path.join(out, "stats.json"), "w") as handle:
        json.dump(stats, handle, indent=2, sort_keys=True)
    if stats["input"] != sum(counts.values()) + quarantined:
        raise SystemExit(f"rows lost or duplicated: {stats}")
    return stats, phases


def _take(values: np.ndarray | pa.Array, rows: np.ndarray) -> np.ndarray | pa.Array:
    return pc.take(values, pa.array(rows)) if isinstance(values, pa.Array) else values[rows]


def write_quarantine(raw: RawTable, rejections: Rejections, out: str) -> None:
    """One JSON line per rejected row: source, first kind, every reason, the row's cells."""
    os.makedirs(os.path.join(out, "quarantine"), exist_ok=True)
    rows = np.flatnonzero(rejections.first >= 0)
    cells = raw.table.take(pa.array(rows)).to_pylist()
    with open(os.path.join(out, "quarantine", "part-00000.jsonl"), "w") as handle:
        for row, row_cells in zip(rows, cells, strict=True):
            reasons = [f"{kind} in '{column}'" for kind, column, mask in rejections.masks if mask[row]]
            record = {
                "source": os.path.basename(raw.files[raw.sources[row]]),
                "kind": Rejections.KINDS[rejections.first[row]],
                "reason": "; ".join(reasons),
                "row": {k: v for k, v in row_cells.items() if v is not None},
            }
            handle.write(json.dumps(record, sort_keys=True) + "\n")
        for record in raw.bad_lines:
            handle.write(json.dumps(record, sort_keys=True) + "\n")


def verify(out: str, stats: dict[str, Any]) -> None:
    """Read every written file back with TensorFlow (GZIP TFRecords) and check the counts and one example."""
    import tensorflow as tf

    for kind in ("raw", "transformed"):
        for name in SPLITS:
            path = os.path.join(out, kind, name, "part-00000-of-00001.tfrecord.gz")
            records = list(tf.data.TFRecordDataset(path, compression_type="GZIP").as_numpy_iterator())
            assert len(records) == stats[name], (path, len(records), stats[name])
            example = tf.train.Example.FromString(records[0])
            assert example.features.feature, path
    print(f"verified with TensorFlow: {out}")


def main() -> None:
    """Parse the flags, run the floor, print one JSON line with seconds, peak RSS and counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CSV file glob, e.g. 'DIR/data/*.csv'")
    parser.add_argument("--columns-json", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--verify", action="store_true", help="read the outputs back with TensorFlow afterwards")
    args = parser.parse_args()
    with open(args.columns_json) as handle:
        columns = parse_columns(json.load(handle))
    imports = time.perf_counter() - _PROCESS_START
    start = time.perf_counter()
    stats, phases = run_floor(args.data, columns, args.output)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"seconds": round(seconds, 3), "import_seconds": round(imports, 3), "peak_rss_mb": round(peak_mb)}
    print(json.dumps({**result, "phases": phases, "stats": stats}))
    if args.verify:
        verify(args.output, stats)


if __name__ == "__main__":
    main()
