"""Ingest: raw files (CSV, Parquet, JSON Lines or TFRecord of tf.Example) → typed raw tf.Examples per split, plus a
quarantine of rejected rows, in one pass.

Usable on its own: ``python -m beam_jobs.ingest --source 'data/*.csv' --columns-json cols.json --output out/``.
Each file is streamed in blocks of records (Arrow) as cell text (:mod:`beam_jobs.readers`), cleaned column by
column, split by the hash of its key and encoded in C++; files are spread over the workers. With ``dedupe_by_key``
the clean rows are grouped by key first and only the first row of each key (oldest span, then file, then record)
is kept. Every input record ends in exactly one of train, eval, test or quarantine (with a reason); ``stats.json``
holds the counts and the job fails if they do not add up. No TensorFlow is imported here.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from beam_jobs import counters
from beam_jobs.batch_cleaning import CleanedBatch, QuarantinedRow, clean_batch, kept_schema
from beam_jobs.chunks import IngestError, check_names
from beam_jobs.cleaning import REJECTION_KINDS, duplicate_key
from beam_jobs.column_stats import ColumnStatistics
from beam_jobs.contract import DATA_FORMATS, LABEL_VALUES, Columns, parse_columns
from beam_jobs.csv_source import DEFAULT_BLOCK_BYTES
from beam_jobs.data_error_log import hide_data_error_traces
from beam_jobs.example_encoding import ExampleEncoder
from beam_jobs.layout import COLUMN_STATS_FILE, RECORDS_PREFIX, RECORDS_SUFFIX, SPLITS, STATS_FILE, TRAIN_SPLIT
from beam_jobs.options import DEFAULT_RUNNER, pipeline_options
from beam_jobs.readers import Prepared, check_format, prepare, read_chunks
from beam_jobs.readers import read_header as read_header  # part of this module's interface
from beam_jobs.split import split_indices
from beam_jobs.tfrecord_sink import WriteFramedRecords

INPUT_COUNTER = "input"
QUARANTINED_COUNTER = "quarantined"
QUARANTINE = "quarantine"
COLUMN_ROWS = "column_rows"  # (split, clean rows) for the column statistics
KEYED = "keyed"  # (key, (file position, record number, source, clean row)) when deduplicating
QUARANTINE_PREFIX, QUARANTINE_SUFFIX = "part", ".jsonl"
_KEPT_BATCH = (1_024, 65_536)  # min and max rows the deduplicated rows are split and encoded in
_BEAM_CONTEXT = re.compile(r"(?: \[while running '[^']*'\])+$")  # what Beam appends to an error from a DoFn
_READ_ERRORS = (pa.ArrowException, UnicodeDecodeError, OSError, EOFError, zlib.error)


class UntrainableDataError(IngestError):
    """The rows that came through cannot train a classifier (none, or one class only); the message is one line."""


def check_trainable(stats: IngestStats, label: str) -> None:
    """Raise UntrainableDataError when a classifier cannot be trained on ``stats``' rows."""
    problem = stats.untrainable(label)
    if problem:
        raise UntrainableDataError(problem)


class CountMismatchError(RuntimeError):
    """Rows were lost or duplicated: input != train + eval + test + quarantined."""


@dataclass(frozen=True)
class IngestPaths:
    """Where ingest writes: typed raw examples per split, the quarantine, and the stats file."""

    examples: str  # <examples>/<split>/part-*.tfrecord.gz
    quarantine: str  # <quarantine>/part-*.jsonl, one JSON object per rejected row
    stats: str  # the stats.json file

    @classmethod
    def under(cls, root: str) -> IngestPaths:
        """All outputs under one directory (the layout of the standalone job)."""
        return cls(
            examples=FileSystems.join(root, "examples"),
            quarantine=FileSystems.join(root, "quarantine"),
            stats=FileSystems.join(root, STATS_FILE),
        )


@dataclass(frozen=True)
class IngestStats:
    """Row counts of one ingest run (``stats.json`` holds exactly these keys)."""

    input: int
    train: int
    eval: int
    test: int
    quarantined: int
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    labels: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> label value -> rows
    format: str = "csv"  # data.format of the files

    def untrainable(self, label: str) -> str | None:
        """Why a classifier cannot be trained on these rows (one line), or None when it can."""
        if self.input == 0:
            held = "a header and nothing else" if self.format == "csv" else "no records"
            return f"no data rows: the {len(self.files)} input file(s) hold {held}"
        if self.train == 0:
            reasons = ", ".join(f"{kind} {n}" for kind, n in sorted(self.quarantine_reasons.items()))
            return f"no rows in the train split: {self.quarantined} of {self.input} input rows quarantined ({reasons})"
        present = {value: n for value, n in self.labels.get(TRAIN_SPLIT, {}).items() if n}
        if len(present) == 1:
            value, n = next(iter(present.items()))
            return f"every train row has {label}={value} ({n} rows): a classifier needs both classes"
        return None

    def check(self) -> None:
        """Raise when rows were lost or duplicated."""
        out = self.train + self.eval + self.test + self.quarantined
        if out != self.input:
            raise CountMismatchError(
                f"{self.input} rows in, {out} out (train {self.train}, eval {self.eval}, test {self.test}, "
                f"quarantined {self.quarantined})"
            )


def label_counter(split: str, value: int) -> str:
    """The counter of a split's rows with one label value."""
    return f"{split}.label.{value}"


def match_files(pattern: str) -> list[str]:
    """All files matching a glob (local or object store), sorted; fails when there are none."""
    matches = FileSystems.match([pattern])[0].metadata_list
    files = sorted(m.path for m in matches)
    if not files:
        raise IngestError(f"data.source: no files match {pattern!r}")
    return files


def list_files(patterns: Sequence[str]) -> list[str]:
    """The files of every glob (one per span, oldest first): sorted within a glob, globs in order, each file once."""
    files: dict[str, None] = {}
    for pattern in patterns:
        files.update(dict.fromkeys(match_files(pattern)))
    return list(files)


def source_names(files: Sequence[str]) -> dict[str, str]:
    """What the quarantine calls each file: its path under the deepest directory common to all (its name when
    they share one directory, e.g. ``span-2/a.csv`` beside ``span-1/a.csv``)."""
    parts = [path.split("/") for path in files]
    common = 0
    if parts:
        shortest = min(len(p) for p in parts) - 1  # directories only: a file's own name always stays
        while common < shortest and len({p[common] for p in parts}) == 1:
            common += 1
    return {path: "/".join(p[common:]) for path, p in zip(files, parts, strict=True)}


def check_header(path: str, header: Sequence[str], columns: Columns) -> None:
    """Every input column must be declared and every declared column present."""
    check_names(path, [h.strip() for h in header], columns, "header")


class _Splitter:
    """Clean rows → framed raw examples per split (tagged by split) and the rows per split for the column statistics,
    counted per split and label value."""

    def __init__(self, columns: Columns, ratios: Mapping[str, float]) -> None:
        self._label = columns.label
        self._ratios = dict(ratios)
        self._splits = {name: counters.counter(name) for name in SPLITS}
        self._labels = {
            (name, value): counters.counter(label_counter(name, value)) for name in SPLITS for value in LABEL_VALUES
        }
        self._encoder = ExampleEncoder()

    def split(self, values: pa.RecordBatch, keys: Sequence[bytes]) -> Iterator[beam.pvalue.TaggedOutput]:
        """Split, count and encode ``values`` (clean rows) by their ``keys``."""
        if not values.num_rows:
            return
        index = split_indices(keys, self._ratios)
        for i, name in enumerate(SPLITS):
            mask = index == i
            count = int(np.count_nonzero(mask))
            if not count:
                continue
            rows = values if count == len(index) else values.filter(pa.array(mask))
            self._splits[name].inc(count)
            yield beam.pvalue.TaggedOutput(COLUMN_ROWS, (name, rows))
            labels = rows.column(self._label).to_numpy(zero_copy_only=False)
            for value in LABEL_VALUES:
                self._labels[name, value].inc(int(np.count_nonzero(labels == value)))
            yield beam.pvalue.TaggedOutput(name, self._encoder.encode_framed(rows).data)


class _QuarantineCounter:
    """Quarantined rows → quarantine lines (tagged), counted in total and per kind."""

    def __init__(self) -> None:
        self._quarantined = counters.counter(QUARANTINED_COUNTER)
        self._kinds = {kind: counters.counter(f"{QUARANTINED_COUNTER}.{kind}") for kind in REJECTION_KINDS}

    def lines(self, source: str, rows: list[QuarantinedRow]) -> Iterator[beam.pvalue.TaggedOutput]:
        """The quarantine line of each row of the file ``source``."""
        if rows:
            self._quarantined.inc(len(rows))
        for row in rows:
            self._kinds[row.kind].inc()
            yield beam.pvalue.TaggedOutput(QUARANTINE, row.to_json(source))


class _ReadClean(beam.DoFn):
    """A file (its position in the input list, its path) → quarantine lines, and its clean rows: framed raw examples
    tagged by split, or, when deduplicating, each row keyed by its key (:data:`KEYED`)."""

    def __init__(
        self,
        columns: Columns,
        ratios: Mapping[str, float],
        data_format: str,
        prepared: Mapping[str, Prepared],
        sources: Mapping[str, str],
        block_bytes: int,
        dedupe: bool,
    ) -> None:
        self._columns = columns
        self._format = data_format
        self._prepared = dict(prepared)
        self._sources = dict(sources)
        self._block_bytes = block_bytes
        self._dedupe = dedupe
        self._input = counters.counter(INPUT_COUNTER)
        self._quarantine = _QuarantineCounter()
        self._splitter = _Splitter(columns, ratios)

    def process(self, element: tuple[int, str]) -> Iterator[beam.pvalue.TaggedOutput]:
        """Stream one file."""
        position, path = element
        source = self._sources[path]
        try:
            for chunk in read_chunks(path, self._format, self._columns, self._prepared[path], self._block_bytes):
                self._input.inc(chunk.records)
                cleaned = clean_batch(chunk.cells, self._columns, chunk.numbers, chunk.marked)
                yield from self._quarantine.lines(source, chunk.rejected + cleaned.quarantined)
                if self._dedupe:
                    yield from _keyed(cleaned, position, source)
                else:
                    yield from self._splitter.split(cleaned.values, cleaned.keys)
        except _READ_ERRORS as error:
            raise IngestError(f"{path}: {error}") from error


def _keyed(cleaned: CleanedBatch, position: int, source: str) -> Iterator[beam.pvalue.TaggedOutput]:
    """Each clean row as (key, (file position, record number, source, values in kept-column order))."""
    assert cleaned.lines is not None
    rows = zip(*(column.to_pylist() for column in cleaned.values.columns), strict=True)
    for key, line, values in zip(cleaned.keys, cleaned.lines.tolist(), rows, strict=True):
        yield beam.pvalue.TaggedOutput(KEYED, (key, (position, line, source, values)))


def _shown(value: Any) -> str:
    """A clean value as cell text for the quarantine (floats at the float32 precision they are kept in)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(np.float32(value)) if isinstance(value, float) else str(value)


class _KeepFirst(beam.DoFn):
    """The rows of one key → the first by (file position, record number); the others are quarantined as
    ``duplicate_key``, naming the row kept."""

    def __init__(self, columns: Columns) -> None:
        assert columns.key is not None
        self._key = columns.key
        self._names = list(columns.kept)
        self._quarantine = _QuarantineCounter()

    def process(self, element: tuple[bytes, Iterable[tuple]]) -> Iterator[Any]:
        """Keep one row of a key."""
        key, rows = element
        ordered = sorted(rows, key=lambda row: (row[0], row[1]))
        _, kept_line, kept_source, kept_values = ordered[0]
        yield key, kept_values
        text = key.decode("utf-8", "backslashreplace")
        for _, line, source, values in ordered[1:]:
            cells = {name: _shown(v) for name, v in zip(self._names, values, strict=True) if v is not None}
            rejection = duplicate_key(self._key, text, kept_source, kept_line)
            yield from self._quarantine.lines(source, [QuarantinedRow.of([rejection], cells, line=line)])


class _SplitKept(beam.DoFn):
    """A batch of kept (key, values) rows → framed raw examples per split and column statistics rows."""

    def __init__(self, columns: Columns, ratios: Mapping[str, float]) -> None:
        self._schema = kept_schema(columns)
        self._splitter = _Splitter(columns, ratios)

    def process(self, batch: list[tuple[bytes, tuple]]) -> Iterator[beam.pvalue.TaggedOutput]:
        """Split one batch."""
        keys = [key for key, _ in batch]
        columns = zip(*(values for _, values in batch), strict=True)
        arrays = [pa.array(list(column), type=f.type) for column, f in zip(columns, self._schema, strict=True)]
        yield from self._splitter.split(pa.RecordBatch.from_arrays(arrays, schema=self._schema), keys)


def run_ingest(
    sources: Sequence[str],
    columns: Columns,
    ratios: Mapping[str, float],
    paths: IngestPaths,
    runner: str = DEFAULT_RUNNER,
    beam_args: Sequence[str] = (),
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    data_format: str = "csv",
    dedupe_by_key: bool = False,
) -> IngestStats:
    """Ingest every file matching ``sources`` (file globs, one per span, oldest first; a single glob may be given
    as a string); returns the (checked) counts, also written to ``paths.stats``.

    Raises IngestError, one line naming the file, for input that cannot be read as configured.
    """
    check_format(data_format)
    if dedupe_by_key and columns.key is None:
        raise IngestError("data.dedupe: key needs a column with role: key")
    files = list_files([sources] if isinstance(sources, str) else sources)
    prepared = {path: prepare(path, data_format, columns) for path in files}
    read = _ReadClean(columns, ratios, data_format, prepared, source_names(files), block_bytes, dedupe_by_key)
    pipeline = beam.Pipeline(options=pipeline_options(runner, beam_args))
    outputs = (
        pipeline
        | "Files" >> beam.Create(list(enumerate(files)))
        | "SpreadFiles" >> beam.Reshuffle()
        | "ReadClean" >> beam.ParDo(read).with_outputs(QUARANTINE, COLUMN_ROWS, KEYED, *SPLITS)
    )
    quarantine = outputs[QUARANTINE]
    if dedupe_by_key:
        kept = (
            outputs[KEYED]
            | "ByKey" >> beam.GroupByKey()
            | "KeepFirst" >> beam.ParDo(_KeepFirst(columns)).with_outputs(QUARANTINE, main="kept")
        )
        quarantine = (quarantine, kept[QUARANTINE]) | "AllQuarantine" >> beam.Flatten()
        outputs = (
            kept["kept"]
            | "KeptBatches" >> beam.BatchElements(*_KEPT_BATCH)
            | "SplitKept" >> beam.ParDo(_SplitKept(columns, ratios)).with_outputs(COLUMN_ROWS, *SPLITS)
        )
    for name in SPLITS:
        prefix = FileSystems.join(paths.examples, name, RECORDS_PREFIX)
        _ = outputs[name] | f"Write{name.title()}" >> WriteFramedRecords(prefix, RECORDS_SUFFIX)
    _ = quarantine | "WriteQuarantine" >> beam.io.WriteToText(
        FileSystems.join(paths.quarantine, QUARANTINE_PREFIX), file_name_suffix=QUARANTINE_SUFFIX
    )
    column_stats = FileSystems.join(posixpath.dirname(paths.stats) or ".", COLUMN_STATS_FILE)
    _ = (
        outputs[COLUMN_ROWS]
        | "ColumnStatistics" >> beam.CombinePerKey(ColumnStatistics())
        | "EverySplit" >> beam.combiners.ToDict()
        | "WriteColumnStatistics" >> beam.Map(_write_json, column_stats)
    )
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except IngestError as error:  # raised in a worker: one line, without the Beam step it was raised in
        raise type(error)(_BEAM_CONTEXT.sub("", str(error))) from None
    reasons = {kind: counters.committed(result, f"{QUARANTINED_COUNTER}.{kind}") for kind in REJECTION_KINDS}
    stats = IngestStats(
        input=counters.committed(result, INPUT_COUNTER),
        train=counters.committed(result, "train"),
        eval=counters.committed(result, "eval"),
        test=counters.committed(result, "test"),
        quarantined=counters.committed(result, QUARANTINED_COUNTER),
        quarantine_reasons={kind: n for kind, n in reasons.items() if n},
        files=files,
        labels={
            name: {str(value): counters.committed(result, label_counter(name, value)) for value in LABEL_VALUES}
            for name in SPLITS
        },
        format=data_format,
    )
    _write_json(asdict(stats), paths.stats)
    stats.check()
    return stats


def _write_json(value: object, path: str) -> None:
    """``value`` as indented JSON at ``path`` (local or object store)."""
    with FileSystems.create(path) as handle:
        handle.write(json.dumps(value, indent=2, sort_keys=True, allow_nan=False).encode("utf-8"))


def parse_ratios(text: str) -> dict[str, float]:
    """``0.8,0.1,0.1`` → ``{"train": 0.8, "eval": 0.1, "test": 0.1}``."""
    return dict(zip(SPLITS, (float(r) for r in text.split(",")), strict=True))


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point; extra flags go to Beam."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", required=True, action="append", help="file glob, local or object store; repeat it per span"
    )
    parser.add_argument("--format", default="csv", choices=DATA_FORMATS, help="the files' format")
    parser.add_argument("--dedupe", choices=["key"], help="key: keep the first row of each key column value")
    parser.add_argument("--columns-json", required=True, help="JSON file with the config's columns mapping")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--split", default="0.8,0.1,0.1", help="train,eval,test ratios")
    parser.add_argument("--runner", default=DEFAULT_RUNNER)
    args, beam_args = parser.parse_known_args(argv)
    with open(args.columns_json) as handle:
        columns = parse_columns(json.load(handle))
    hide_data_error_traces()
    try:
        stats = run_ingest(
            args.source,
            columns,
            parse_ratios(args.split),
            IngestPaths.under(args.output),
            args.runner,
            beam_args,
            data_format=args.format,
            dedupe_by_key=args.dedupe == "key",
        )
    except IngestError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(json.dumps(asdict(stats)))


if __name__ == "__main__":
    main()
