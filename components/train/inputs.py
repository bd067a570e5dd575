"""Train's inputs checked where TensorFlow would fail deep inside a graph: a transform graph with a file missing,
and a transformed TFRecord file that is truncated or corrupt. Each error is one line naming the file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

import tensorflow as tf
import tensorflow_transform as tft

from beam_jobs.layout import SAVED_MODEL_FILE

TRANSFORM_GRAPH_FILES = (
    os.path.join(tft.TFTransformOutput.TRANSFORM_FN_DIR, SAVED_MODEL_FILE),
    os.path.join(tft.TFTransformOutput.TRANSFORMED_METADATA_DIR, "schema.pbtxt"),
)


class CorruptInputError(ValueError):
    """An input artifact of train is missing a file or is truncated; the message names the file."""


def check_transform_graph(directory: str) -> None:
    """Raise CorruptInputError when the tf.Transform output in ``directory`` lacks a file train loads."""
    for name in TRANSFORM_GRAPH_FILES:
        path = os.path.join(directory, name)
        if not tf.io.gfile.exists(path):
            raise CorruptInputError(f"transform graph {directory}: {name} is missing (an incomplete preprocess output)")


def first_corrupt_file(files: Sequence[str]) -> tuple[str, str] | None:
    """(path, TensorFlow's reason) of the first gzip TFRecord file in ``files`` that does not read to its end."""
    for path in files:
        try:
            tf.data.TFRecordDataset(path, compression_type="GZIP").reduce(0, lambda count, _: count + 1)
        except tf.errors.DataLossError as error:
            return path, error.message.strip().splitlines()[0]
    return None


@contextlib.contextmanager
def corrupt_records_named(patterns: Sequence[str]) -> Iterator[None]:
    """Turn a DataLossError from reading the TFRecords of ``patterns`` into a CorruptInputError naming the file
    (TensorFlow's own message does not); the files are only scanned when such an error happens."""
    try:
        yield
    except tf.errors.DataLossError as error:
        files = [path for pattern in patterns for path in sorted(tf.io.gfile.glob(pattern))]
        found = first_corrupt_file(files)
        where = f"{found[0]}: {found[1]}" if found else f"one of {', '.join(patterns)}: {error.message}"
        raise CorruptInputError(f"corrupt or truncated TFRecord {where}") from None
