"""A transform graph analyzed by a real tf.Transform Beam job on a few in-memory rows, for transform unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import apache_beam as beam
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

from beam_jobs.contract import Columns, Cross
from beam_jobs.options import pipeline_options
from beam_jobs.transform import make_preprocessing_fn, raw_schema


def analyze(
    rows: Sequence[dict[str, Any]], columns: Columns, out: Path, crosses: Sequence[Cross] = ()
) -> tft.TFTransformOutput:
    """Analyze ``rows`` (raw values by column) with the project's preprocessing_fn; the graph is written to
    ``out/graph`` with its raw metadata, as preprocess writes it."""
    metadata = dataset_metadata.DatasetMetadata(raw_schema(columns))
    with beam.Pipeline(options=pipeline_options()) as pipeline, tft_beam.Context(temp_dir=str(out / "tmp")):
        transform_fn = (pipeline | beam.Create(list(rows)), metadata) | tft_beam.AnalyzeDataset(
            make_preprocessing_fn(columns, crosses)
        )
        _ = transform_fn | tft_beam.WriteTransformFn(str(out / "graph"))
    metadata_io.write_metadata(metadata, str(out / "graph" / tft.TFTransformOutput.RAW_METADATA_DIR))
    return tft.TFTransformOutput(str(out / "graph"))
