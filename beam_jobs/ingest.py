"""Ingest: raw CSV files → typed raw tf.Examples per split, plus a quarantine of rejected rows, in one pass.

Usable on its own: ``python -m beam_jobs.ingest --source 'data/*.csv' --columns-json cols.json --output out/``.
Each file is streamed in blocks of records (Arrow), cleaned column by column, split by the hash of its key and
encoded in C++; files are spread over the workers. Every input record ends in exactly one of train, eval, test
or quarantine (with a reason); ``stats.json`` holds the counts and the job fails if they do not add up.
No TensorFlow is imported here.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from beam_jobs import counters
from beam_jobs.batch_cleaning import CleanedBatch, QuarantinedRow, clean_batch
from beam_jobs.cleaning import REJECTION_KINDS, wrong_column_count
from beam_jobs.column_stats import ColumnStatistics
from beam_jobs.contract import LABEL_VALUES, Columns, parse_columns
from beam_jobs.csv_source import DEFAULT_BLOCK_BYTES, CsvHeaderError, read_chunks
from beam_jobs.csv_source import read_header as _read_header
from beam_jobs.example_encoding import ExampleEncoder
from beam_jobs.layout import COLUMN_STATS_FILE, RECORDS_PREFIX, RECORDS_SUFFIX, SPLITS, STATS_FILE, TRAIN_SPLIT
from beam_jobs.options import DEFAULT_RUNNER, pipeline_options
from beam_jobs.split import split_indices
from beam_jobs.tfrecord_sink import WriteFramedRecords

INPUT_COUNTER = "input"
QUARANTINED_COUNTER = "quarantined"
QUARANTINE = "quarantine"
COLUMN_ROWS = "column_rows"  # (split, clean rows) for the column statistics
QUARANTINE_PREFIX, QUARANTINE_SUFFIX = "part", ".jsonl"


class IngestError(ValueError):
    """The input cannot be ingested as configured (no files, header mismatch)."""


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

    def untrainable(self, label: str) -> str | None:
        """Why a classifier cannot be trained on these rows (one line), or None when it can."""
        if self.input == 0:
            return f"no data rows: the {len(self.files)} input file(s) hold a header and nothing else"
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


def read_header(path: str) -> list[str]:
    """The column names on the first line of a CSV file."""
    try:
        return _read_header(path)
    except CsvHeaderError as error:
        raise IngestError(str(error)) from None


def check_header(path: str, header: Sequence[str], columns: Columns) -> None:
    """Every input column must be declared and every declared column present."""
    declared = set(columns.columns)
    found = [h.strip() for h in header]
    duplicated = sorted({h for h in found if found.count(h) > 1})
    if duplicated:
        raise IngestError(f"{path}: header repeats column(s) {duplicated}")
    undeclared = [h for h in found if h not in declared]
    if undeclared:
        raise IngestError(f"{path}: column(s) {undeclared} are in the data but not in the config's columns")
    absent = [c for c in columns.columns if c not in found]
    if absent:
        raise IngestError(f"{path}: config column(s) {absent} are missing from the data's header")


class _ReadCleanSplit(beam.DoFn):
    """A CSV file → framed raw examples (a bytes element per batch and split, tagged by split) and quarantine lines."""

    def __init__(
        self, columns: Columns, ratios: Mapping[str, float], headers: Mapping[str, list[str]], block_bytes: int
    ) -> None:
        self._columns = columns
        self._ratios = dict(ratios)
        self._headers = dict(headers)
        self._block_bytes = block_bytes
        self._input = counters.counter(INPUT_COUNTER)
        self._splits = {name: counters.counter(name) for name in SPLITS}
        self._quarantined = counters.counter(QUARANTINED_COUNTER)
        self._kinds = {kind: counters.counter(f"{QUARANTINED_COUNTER}.{kind}") for kind in REJECTION_KINDS}
        self._labels = {
            (name, value): counters.counter(label_counter(name, value)) for name in SPLITS for value in LABEL_VALUES
        }
        self._encoder = ExampleEncoder()

    def process(self, path: str) -> Iterator[beam.pvalue.TaggedOutput]:
        """Stream one file."""
        header = self._headers[path]
        source = os.path.basename(path)
        try:
            for chunk in read_chunks(path, header, self._block_bytes):
                self._input.inc(chunk.records)
                rejected = [
                    QuarantinedRow.unsplit(line, wrong_column_count(len(header), line.fields)) for line in chunk.invalid
                ]
                cleaned = clean_batch(chunk.cells, self._columns, chunk.numbers, chunk.marked)
                yield from self._quarantine(source, rejected + cleaned.quarantined)
                yield from self._split(cleaned)
        except (pa.ArrowException, UnicodeDecodeError) as error:
            raise IngestError(f"{path}: {error}") from error

    def _quarantine(self, source: str, rows: list[QuarantinedRow]) -> Iterator[beam.pvalue.TaggedOutput]:
        if rows:
            self._quarantined.inc(len(rows))
        for row in rows:
            self._kinds[row.kind].inc()
            yield beam.pvalue.TaggedOutput(QUARANTINE, row.to_json(source))

    def _split(self, cleaned: CleanedBatch) -> Iterator[beam.pvalue.TaggedOutput]:
        if not cleaned.values.num_rows:
            return
        index = split_indices(cleaned.keys, self._ratios)
        for i, name in enumerate(SPLITS):
            mask = index == i
            count = int(np.count_nonzero(mask))
            if not count:
                continue
            rows = cleaned.values if count == len(index) else cleaned.values.filter(pa.array(mask))
            self._splits[name].inc(count)
            yield beam.pvalue.TaggedOutput(COLUMN_ROWS, (name, rows))
            labels = rows.column(self._columns.label).to_numpy(zero_copy_only=False)
            for value in LABEL_VALUES:
                self._labels[name, value].inc(int(np.count_nonzero(labels == value)))
            yield beam.pvalue.TaggedOutput(name, self._encoder.encode_framed(rows).data)


def run_ingest(
    source: str,
    columns: Columns,
    ratios: Mapping[str, float],
    paths: IngestPaths,
    runner: str = DEFAULT_RUNNER,
    beam_args: Sequence[str] = (),
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> IngestStats:
    """Ingest every file matching ``source``; returns the (checked) counts, also written to ``paths.stats``."""
    files = match_files(source)
    headers = {}
    for path in files:
        header = read_header(path)
        check_header(path, header, columns)
        headers[path] = header
    pipeline = beam.Pipeline(options=pipeline_options(runner, beam_args))
    outputs = (
        pipeline
        | "Files" >> beam.Create(files)
        | "SpreadFiles" >> beam.Reshuffle()
        | "ReadCleanSplit"
        >> beam.ParDo(_ReadCleanSplit(columns, ratios, headers, block_bytes)).with_outputs(
            QUARANTINE, COLUMN_ROWS, *SPLITS
        )
    )
    for name in SPLITS:
        prefix = FileSystems.join(paths.examples, name, RECORDS_PREFIX)
        _ = outputs[name] | f"Write{name.title()}" >> WriteFramedRecords(prefix, RECORDS_SUFFIX)
    _ = outputs[QUARANTINE] | "WriteQuarantine" >> beam.io.WriteToText(
        FileSystems.join(paths.quarantine, QUARANTINE_PREFIX), file_name_suffix=QUARANTINE_SUFFIX
    )
    column_stats = FileSystems.join(posixpath.dirname(paths.stats) or ".", COLUMN_STATS_FILE)
    _ = (
        outputs[COLUMN_ROWS]
        | "ColumnStatistics" >> beam.CombinePerKey(ColumnStatistics())
        | "EverySplit" >> beam.combiners.ToDict()
        | "WriteColumnStatistics" >> beam.Map(_write_json, column_stats)
    )
    result = pipeline.run()
    result.wait_until_finish()
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
    parser.add_argument("--source", required=True, help="file glob, local or object store")
    parser.add_argument("--columns-json", required=True, help="JSON file with the config's columns mapping")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--split", default="0.8,0.1,0.1", help="train,eval,test ratios")
    parser.add_argument("--runner", default=DEFAULT_RUNNER)
    args, beam_args = parser.parse_known_args(argv)
    with open(args.columns_json) as handle:
        columns = parse_columns(json.load(handle))
    stats = run_ingest(
        args.source, columns, parse_ratios(args.split), IngestPaths.under(args.output), args.runner, beam_args
    )
    print(json.dumps(asdict(stats)))


if __name__ == "__main__":
    main()
