"""Preprocess: tf.Transform over ingest's typed raw examples — analyze train, transform every split (Apache Beam).

Usable on its own: ``python -m beam_jobs.preprocess --examples ingest/examples --columns-json c.json
[--crosses-json x.json] --output out/ [--runner DataflowRunner ...]``. Analyzers (means, vocabularies, quantiles)
see the train split only; eval and test are transformed with the same transform_fn. Data moves as Arrow record
batches end to end (TFXIO's record batches in, record batches out of tf.Transform, columnar example encoding), train
is re-read for each tf.Transform phase rather than held in memory, and the transform graph written here is what
serving applies.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from apache_beam.io.filesystems import FileSystems
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
from tfx_bsl.tfxio.tensor_adapter import TensorAdapterConfig

from beam_jobs import counters
from beam_jobs.contract import Columns, Cross, parse_columns, parse_crosses
from beam_jobs.example_encoding import ExampleEncoder
from beam_jobs.layout import (
    RECORDS_PREFIX,
    RECORDS_SUFFIX,
    SPLITS,
    TRAIN_SPLIT,
    every_split_files,
    split_files,
    split_of_file,
)
from beam_jobs.options import DEFAULT_RUNNER, pipeline_options
from beam_jobs.tfrecord_sink import WriteFramedRecords
from beam_jobs.tfrecord_source import LABEL_TYPE, FileLabel, ReadExampleBatches, example_tfxio
from beam_jobs.transform import make_preprocessing_fn, raw_schema

BATCH_SIZE = 10_000  # raw examples per record batch into tf.Transform (one TF graph run each)


@dataclass(frozen=True)
class PreprocessPaths:
    """Where preprocess writes: transformed examples per split and the transform graph."""

    transformed: str  # <transformed>/<split>/part-*.tfrecord.gz
    transform_graph: str  # tf.Transform's transform_fn + transformed_metadata, and the raw metadata

    @classmethod
    def under(cls, root: str) -> PreprocessPaths:
        """All outputs under one directory (the layout of the standalone job)."""
        return cls(
            transformed=FileSystems.join(root, "transformed"),
            transform_graph=FileSystems.join(root, "transform_graph"),
        )


@dataclass(frozen=True)
class TransformStats:
    """Examples transformed per split."""

    train: int
    eval: int
    test: int


# Every split goes through one TransformDataset (one load of the transform graph, fewer Beam stages than one per
# split). One read of every split's files labels each batch with its split in this column, which tf.Transform passes
# through. One read, not a Flatten of three: the in-memory runner would hold the flattened input in memory.
SPLIT_KEY = "__bigtrain_split__"


class _EncodeTransformed(beam.DoFn):
    """A transformed record batch → its framed tf.Examples, tagged and counted by split."""

    def __init__(self) -> None:
        self._counts = {split: counters.counter(split) for split in SPLITS}
        self._encoder = ExampleEncoder()

    def process(self, element: tuple[pa.RecordBatch, dict]) -> Iterator[beam.pvalue.TaggedOutput]:
        """Encode one batch per split it holds (tf.Transform returns the split as a column of the batch, or as a
        pass-through feature when the batch has one row per split value)."""
        batch, passthrough = element
        index = batch.schema.get_field_index(SPLIT_KEY)
        if index >= 0:
            splits = batch.column(index).flatten()
            batch = batch.remove_column(index)
        else:
            splits = pa.repeat(passthrough[SPLIT_KEY].flatten()[0], batch.num_rows)
        for split in SPLITS:
            rows = batch.filter(pc.equal(splits, split.encode()))
            if rows.num_rows:
                self._counts[split].inc(rows.num_rows)
                yield beam.pvalue.TaggedOutput(split, self._encoder.encode_framed(rows).data)


def run_preprocess(
    examples_dir: str,
    columns: Columns,
    paths: PreprocessPaths,
    runner: str = DEFAULT_RUNNER,
    beam_args: Sequence[str] = (),
    batch_size: int = BATCH_SIZE,
    crosses: Sequence[Cross] = (),
) -> TransformStats:
    """Analyze the train split of ``examples_dir`` (ingest's raw examples) and transform every split; each of
    ``crosses`` becomes one more transformed feature."""
    schema = raw_schema(columns)
    temp_dir = FileSystems.join(paths.transform_graph, ".tft_tmp")
    pipeline = beam.Pipeline(options=pipeline_options(runner, beam_args))
    # TF1 graph mode for tracing the preprocessing_fn and writing the transform graph: the same analyzers and
    # transformed values, about 3 s less per run than TF2 tracing (measured on the demo; bench/README.md).
    # transform_features_layer() serves a TF1 transform graph inside the exported TF2 model as well.
    with tft_beam.Context(
        temp_dir=temp_dir,
        use_deep_copy_optimization=True,
        force_tf_compat_v1=True,
        passthrough_keys={SPLIT_KEY},
    ):
        config = example_tfxio(split_files(examples_dir, TRAIN_SPLIT), schema).TensorAdapterConfig()
        adapter = TensorAdapterConfig(
            arrow_schema=config.arrow_schema.append(pa.field(SPLIT_KEY, LABEL_TYPE)),
            tensor_representations=config.tensor_representations,
        )
        label = FileLabel(SPLIT_KEY, split_of_file)
        train = pipeline | "ReadTrain" >> ReadExampleBatches(
            split_files(examples_dir, TRAIN_SPLIT), schema, batch_size, label
        )
        transform_fn = (train, adapter) | "AnalyzeTrain" >> tft_beam.AnalyzeDataset(
            make_preprocessing_fn(columns, crosses)
        )
        every_split = pipeline | "ReadEverySplit" >> ReadExampleBatches(
            every_split_files(examples_dir), schema, batch_size, label
        )
        transformed, _ = ((every_split, adapter), transform_fn) | "Transform" >> (
            tft_beam.TransformDataset(output_record_batches=True)
        )
        encoded = transformed | "Encode" >> beam.ParDo(_EncodeTransformed()).with_outputs(*SPLITS)
        for split in SPLITS:
            prefix = FileSystems.join(paths.transformed, split, RECORDS_PREFIX)
            _ = encoded[split] | f"Write{split.title()}" >> WriteFramedRecords(prefix, RECORDS_SUFFIX)
        _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(paths.transform_graph)
        result = pipeline.run()
        result.wait_until_finish()
    if FileSystems.exists(temp_dir):
        FileSystems.delete([temp_dir])
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema),
        FileSystems.join(paths.transform_graph, tft.TFTransformOutput.RAW_METADATA_DIR),
    )
    return TransformStats(**{split: counters.committed(result, split) for split in SPLITS})


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point; extra flags go to Beam."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", required=True, help="ingest's examples directory (<dir>/<split>/part-*)")
    parser.add_argument("--columns-json", required=True, help="JSON file with the config's columns mapping")
    parser.add_argument("--crosses-json", help="JSON file with the config's crosses list ([{cross, hash}, ...])")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--runner", default=DEFAULT_RUNNER)
    args, beam_args = parser.parse_known_args(argv)
    with open(args.columns_json) as handle:
        columns = parse_columns(json.load(handle))
    crosses: list[Cross] = []
    if args.crosses_json:
        with open(args.crosses_json) as handle:
            raw_crosses = json.load(handle)
        try:
            crosses = parse_crosses(raw_crosses, columns)
        except ValueError as error:  # a CrossError or a malformed cross
            parser.error(f"--crosses-json {args.crosses_json}: {error}")
    paths = PreprocessPaths.under(args.output)
    stats = run_preprocess(args.examples, columns, paths, args.runner, beam_args, crosses=crosses)
    print(json.dumps(asdict(stats)))


if __name__ == "__main__":
    main()
