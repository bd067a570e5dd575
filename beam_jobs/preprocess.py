"""Preprocess: clean, quarantine, split and tf.Transform the ingested records (Apache Beam).

Usable on its own: ``python -m beam_jobs.preprocess --examples 'ingest/part*' --columns-json c.json
--output out/ [--runner DataflowRunner ...]``. Every input row ends in exactly one of train, eval, test or
quarantine; ``stats.json`` holds the counts and the job fails if they do not add up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import apache_beam as beam
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
from tfx_bsl.public import tfxio

from beam_jobs import counters
from beam_jobs.cleaning import REJECTION_KINDS, clean_row, split_key
from beam_jobs.contract import Columns, parse_columns
from beam_jobs.layout import RECORDS_PREFIX, RECORDS_SUFFIX, STATS_FILE
from beam_jobs.options import DEFAULT_RUNNER, pipeline_options
from beam_jobs.records import RAW, SOURCE, decode_ingested, encode_typed
from beam_jobs.split import SPLITS, assign_split
from beam_jobs.transform import make_preprocessing_fn, raw_schema


class CountMismatchError(RuntimeError):
    """Rows were lost or duplicated: input != train + eval + test + quarantined."""


@dataclass(frozen=True)
class PreprocessPaths:
    """Where preprocess writes; each is a directory except ``stats``."""

    transformed: str
    raw: str
    transform_graph: str
    quarantine: str
    stats: str

    @classmethod
    def under(cls, root: str) -> PreprocessPaths:
        """All outputs under one directory (the layout of the standalone job)."""
        return cls(
            transformed=os.path.join(root, "transformed"),
            raw=os.path.join(root, "raw"),
            transform_graph=os.path.join(root, "transform_graph"),
            quarantine=os.path.join(root, "quarantine"),
            stats=os.path.join(root, STATS_FILE),
        )


@dataclass(frozen=True)
class PreprocessStats:
    """Row counts of one preprocess run."""

    input: int
    train: int
    eval: int
    test: int
    quarantined: int
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def check(self) -> None:
        """Raise when rows were lost or duplicated."""
        out = self.train + self.eval + self.test + self.quarantined
        if out != self.input:
            raise CountMismatchError(
                f"{self.input} rows in, {out} out (train {self.train}, eval {self.eval}, test {self.test}, "
                f"quarantined {self.quarantined})"
            )


class _CleanAndSplit(beam.DoFn):
    """Ingested record → (split, typed example) or, tagged ``quarantine``, a JSON line with the reason."""

    QUARANTINE = "quarantine"

    def __init__(self, columns: Columns, ratios: Mapping[str, float]) -> None:
        self._columns = columns
        self._ratios = dict(ratios)
        self._types = {name: spec.type for name, spec in columns.kept.items()}
        self._input = counters.counter("input")
        self._splits = {name: counters.counter(name) for name in SPLITS}
        self._quarantined = counters.counter("quarantined")
        self._kinds = {kind: counters.counter(f"quarantined.{kind}") for kind in REJECTION_KINDS}

    def process(self, serialized: bytes) -> Iterator[tuple[str, bytes] | beam.pvalue.TaggedOutput]:
        self._input.inc()
        cells = decode_ingested(serialized)
        result = clean_row(cells, self._columns)
        if result.values is None:
            self._quarantined.inc()
            self._kinds[result.kind].inc()
            row = {k: v for k, v in cells.items() if k not in (SOURCE, RAW) and not k.startswith("_")}
            record = {"source": cells.get(SOURCE), "kind": result.kind, "reason": result.reason, "row": row}
            if RAW in cells:
                record["raw"] = cells[RAW]
            yield beam.pvalue.TaggedOutput(self.QUARANTINE, json.dumps(record, sort_keys=True))
            return
        split = assign_split(split_key(cells, result.values, self._columns), self._ratios)
        self._splits[split].inc()
        yield split, encode_typed(result.values, self._types)


def _write_records(pcoll: beam.PCollection, directory: str, split: str, label: str) -> None:
    prefix = os.path.join(directory, split, RECORDS_PREFIX)
    _ = pcoll | f"Write{label}" >> beam.io.WriteToTFRecord(prefix, file_name_suffix=RECORDS_SUFFIX)


def run_preprocess(
    examples_pattern: str,
    columns: Columns,
    ratios: Mapping[str, float],
    paths: PreprocessPaths,
    runner: str = DEFAULT_RUNNER,
    beam_args: Sequence[str] = (),
) -> PreprocessStats:
    """Run the whole preprocess job and return its (checked) counts; also written to ``paths.stats``."""
    schema = raw_schema(columns)
    example_io = tfxio.TFExampleBeamRecord(physical_format="tfrecord", schema=schema)
    temp_dir = os.path.join(paths.transform_graph, ".tft_tmp")
    pipeline = beam.Pipeline(options=pipeline_options(runner, beam_args))
    with tft_beam.Context(temp_dir=temp_dir):
        cleaned = (
            pipeline
            | "ReadIngested" >> beam.io.ReadFromTFRecord(examples_pattern)
            | "CleanAndSplit" >> beam.ParDo(_CleanAndSplit(columns, ratios)).with_outputs(
                _CleanAndSplit.QUARANTINE, main="clean"
            )
        )
        _ = cleaned[_CleanAndSplit.QUARANTINE] | "WriteQuarantine" >> beam.io.WriteToText(
            os.path.join(paths.quarantine, "part"), file_name_suffix=".jsonl"
        )
        partitions = cleaned["clean"] | "BySplit" >> beam.Partition(lambda item, _n: SPLITS.index(item[0]), len(SPLITS))
        raw = {name: partitions[i] | f"Drop{name}Key" >> beam.Values() for i, name in enumerate(SPLITS)}
        for name in SPLITS:
            _write_records(raw[name], paths.raw, name, f"Raw{name}")
        batches = {name: raw[name] | f"{name}ToRecordBatches" >> example_io.BeamSource() for name in SPLITS}
        adapter = example_io.TensorAdapterConfig()
        (train_xf, transformed_metadata), transform_fn = (
            batches["train"],
            adapter,
        ) | "AnalyzeAndTransformTrain" >> tft_beam.AnalyzeAndTransformDataset(make_preprocessing_fn(columns))
        transformed = {"train": train_xf}
        for name in ("eval", "test"):
            transformed[name], _ = ((batches[name], adapter), transform_fn) | f"Transform{name}" >> (
                tft_beam.TransformDataset()
            )
        coder = tft.coders.ExampleProtoCoder(transformed_metadata.schema)
        for name in SPLITS:
            encoded = transformed[name] | f"Encode{name}" >> beam.Map(coder.encode)
            _write_records(encoded, paths.transformed, name, f"Transformed{name}")
        _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(paths.transform_graph)
        result = pipeline.run()
        result.wait_until_finish()
    shutil.rmtree(temp_dir, ignore_errors=True)
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema),
        os.path.join(paths.transform_graph, tft.TFTransformOutput.RAW_METADATA_DIR),
    )
    reasons = {kind: counters.committed(result, f"quarantined.{kind}") for kind in REJECTION_KINDS}
    stats = PreprocessStats(
        input=counters.committed(result, "input"),
        train=counters.committed(result, "train"),
        eval=counters.committed(result, "eval"),
        test=counters.committed(result, "test"),
        quarantined=counters.committed(result, "quarantined"),
        quarantine_reasons={kind: n for kind, n in reasons.items() if n},
    )
    os.makedirs(os.path.dirname(paths.stats) or ".", exist_ok=True)
    with open(paths.stats, "w") as handle:
        json.dump(asdict(stats), handle, indent=2, sort_keys=True)
    stats.check()
    return stats


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point; extra flags go to Beam."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", required=True, help="file pattern of ingested TFRecords")
    parser.add_argument("--columns-json", required=True, help="JSON file with the config's columns mapping")
    parser.add_argument("--split", default="0.8,0.1,0.1", help="train,eval,test ratios")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--runner", default=DEFAULT_RUNNER)
    args, beam_args = parser.parse_known_args(argv)
    with open(args.columns_json) as handle:
        columns = parse_columns(json.load(handle))
    ratios = dict(zip(SPLITS, (float(r) for r in args.split.split(",")), strict=True))
    stats = run_preprocess(args.examples, columns, ratios, PreprocessPaths.under(args.output), args.runner, beam_args)
    print(json.dumps(asdict(stats)))


if __name__ == "__main__":
    main()
