"""Ingest: raw CSV files → gzipped tf.Example TFRecords, one record per data row, nothing dropped.

Usable on its own: ``python -m beam_jobs.ingest --source 'data/*.csv' --columns-json cols.json --output out/``.
Typing and quarantine happen in preprocess; ingest only splits lines into the declared columns, and marks
rows whose field count is wrong so preprocess can quarantine them with a reason.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from beam_jobs import counters
from beam_jobs.contract import Columns, parse_columns
from beam_jobs.layout import RECORDS_PREFIX, RECORDS_SUFFIX
from beam_jobs.options import DEFAULT_RUNNER, pipeline_options
from beam_jobs.records import encode_ingested

ROWS_COUNTER = "ingested_rows"
SUMMARY_FILE = "ingest.json"


class IngestError(ValueError):
    """The input cannot be ingested as configured (no files, header mismatch)."""


@dataclass(frozen=True)
class IngestResult:
    """What ingest read and wrote."""

    files: list[str]
    rows: int
    output_pattern: str


def match_files(pattern: str) -> list[str]:
    """All files matching a glob (local or object store), sorted; fails when there are none."""
    matches = FileSystems.match([pattern])[0].metadata_list
    files = sorted(m.path for m in matches)
    if not files:
        raise IngestError(f"data.source: no files match {pattern!r}")
    return files


def read_header(path: str) -> list[str]:
    """The column names on the first line of a CSV file."""
    with FileSystems.open(path) as handle:
        first = io.TextIOWrapper(handle, encoding="utf-8", newline="").readline()
    if not first.strip():
        raise IngestError(f"{path}: the file is empty or has no header line")
    return next(csv.reader([first]))


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


def split_line(source: str, line: str, header: Sequence[str]) -> bytes:
    """One CSV line → an ingested record; a wrong field count is recorded, not raised."""
    try:
        fields = next(csv.reader([line]))
    except csv.Error as error:
        return encode_ingested({}, source, error=f"unreadable CSV line: {error}", raw=line)
    if len(fields) != len(header):
        message = f"wrong column count: expected {len(header)} fields, got {len(fields)}"
        return encode_ingested({}, source, error=message, raw=line)
    return encode_ingested(dict(zip(header, fields, strict=True)), source)


class _SplitLines(beam.DoFn):
    def __init__(self, headers: dict[str, list[str]]) -> None:
        self._headers = headers
        self._rows = counters.counter(ROWS_COUNTER)

    def process(self, element: tuple[str, str]) -> Iterator[bytes]:
        filename, line = element
        if not line.strip():
            return
        self._rows.inc()
        yield split_line(os.path.basename(filename), line, self._headers[filename])


def run_ingest(
    source: str,
    columns: Columns,
    output_dir: str,
    runner: str = DEFAULT_RUNNER,
    beam_args: Sequence[str] = (),
) -> IngestResult:
    """Read every file matching ``source`` and write ingested records under ``output_dir``."""
    files = match_files(source)
    headers = {}
    for path in files:
        header = [h.strip() for h in read_header(path)]
        check_header(path, header, columns)
        headers[path] = header
    os.makedirs(output_dir, exist_ok=True)
    prefix = os.path.join(output_dir, RECORDS_PREFIX)
    pipeline = beam.Pipeline(options=pipeline_options(runner, beam_args))
    _ = (
        pipeline
        | "Read" >> beam.io.ReadFromTextWithFilename(source, skip_header_lines=1)
        | "Split" >> beam.ParDo(_SplitLines(headers))
        | "Write" >> beam.io.WriteToTFRecord(prefix, file_name_suffix=RECORDS_SUFFIX)
    )
    result = pipeline.run()
    result.wait_until_finish()
    rows = counters.committed(result, ROWS_COUNTER)
    outcome = IngestResult(files=files, rows=rows, output_pattern=f"{prefix}*{RECORDS_SUFFIX}")
    with open(os.path.join(output_dir, SUMMARY_FILE), "w") as handle:
        json.dump(asdict(outcome), handle, indent=2)
    return outcome


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point; extra flags go to Beam."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="file glob, local or object store")
    parser.add_argument("--columns-json", required=True, help="JSON file with the config's columns mapping")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--runner", default=DEFAULT_RUNNER)
    args, beam_args = parser.parse_known_args(argv)
    with open(args.columns_json) as handle:
        columns = parse_columns(json.load(handle))
    result = run_ingest(args.source, columns, args.output, args.runner, beam_args)
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
