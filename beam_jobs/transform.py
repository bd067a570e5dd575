"""The tf.Transform side of the data contract: the raw schema and the preprocessing_fn.

Missing-value imputation lives here, in the transform graph, so a serving request with an absent
feature is imputed exactly as training data was. Analyzers (mean, vocabularies, quantiles, z-score
statistics) run on the train split only.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import schema_utils

from beam_jobs.contract import Columns, ColumnSpec

_DTYPES = {"float": tf.float32, "int": tf.int64, "string": tf.string}


def raw_feature_spec(columns: Columns) -> dict[str, tf.io.FixedLenFeature | tf.io.VarLenFeature]:
    """Parsing spec of the raw examples the transform reads: features and the label.

    Required columns (missing → quarantine) are fixed-length, so a serving request without them fails
    loudly; imputed columns are var-length, so they may be absent.
    """
    spec: dict[str, tf.io.FixedLenFeature | tf.io.VarLenFeature] = {}
    for name, column in columns.columns.items():
        if column.role not in ("feature", "label"):
            continue
        dtype = _DTYPES[column.type]
        spec[name] = tf.io.FixedLenFeature([], dtype) if column.required else tf.io.VarLenFeature(dtype)
    return spec


def raw_schema(columns: Columns) -> schema_pb2.Schema:
    """The raw feature spec as a tf.metadata Schema."""
    return schema_utils.schema_from_feature_spec(raw_feature_spec(columns))


def _mode(values: tf.Tensor, name: str) -> tf.Tensor:
    """The most frequent value (as a string) among the present values, computed on train."""
    strings = values if values.dtype == tf.string else tf.strings.as_string(values)
    vocab = tft.vocabulary(strings, top_k=1, vocab_filename=f"{name}_mode")
    initializer = tf.lookup.TextFileInitializer(
        vocab,
        key_dtype=tf.int64,
        key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
        value_dtype=tf.string,
        value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
    )
    table = tf.lookup.StaticHashTable(initializer, default_value="")
    return table.lookup(tf.constant(0, tf.int64))


def _impute(x: tf.Tensor | tf.SparseTensor, name: str, spec: ColumnSpec) -> tf.Tensor:
    """A dense [batch] tensor with missing values filled by the column's rule."""
    if not isinstance(x, tf.SparseTensor):
        return x
    dtype = x.dtype
    rule = spec.missing
    if rule.kind == "fill":
        default = tf.constant(rule.value, dtype=dtype)
    elif rule.kind == "mean":
        mean = tft.mean(tf.cast(x.values, tf.float32), name=f"{name}_mean")
        default = tf.cast(tf.round(mean), dtype) if dtype.is_integer else tf.cast(mean, dtype)
    else:  # mode
        mode = _mode(x.values, name)
        default = mode if dtype == tf.string else tf.strings.to_number(mode, out_type=dtype)
    dense = tft.sparse_tensor_to_dense_with_shape(x, [None, 1], default_value=default)
    return tf.squeeze(dense, axis=1)


def _as_string(x: tf.Tensor) -> tf.Tensor:
    return x if x.dtype == tf.string else tf.strings.as_string(x)


def _apply(x: tf.Tensor, name: str, spec: ColumnSpec) -> tf.Tensor:
    transform = spec.transform
    assert transform is not None  # features always get one (contract default)
    kind = transform.kind
    if kind == "vocabulary":
        return tft.compute_and_apply_vocabulary(
            _as_string(x),
            top_k=transform.top_k,
            frequency_threshold=transform.min_frequency if transform.min_frequency > 1 else None,
            num_oov_buckets=transform.oov_buckets,
            vocab_filename=name,
        )
    if kind == "hash":
        return tf.strings.to_hash_bucket_fast(_as_string(x), transform.num_buckets)
    number = tf.cast(x, tf.float32)
    if kind == "zscore":
        return tft.scale_to_z_score(number)
    if kind == "scale_0_1":
        return tft.scale_to_0_1(number)
    if kind == "log":
        return tft.scale_to_z_score(tf.math.log1p(tf.maximum(number, 0.0)))
    if kind == "bucketize":
        return tft.bucketize(number, transform.num_buckets)
    return number  # identity


def make_preprocessing_fn(columns: Columns) -> Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]:
    """The preprocessing_fn: every feature imputed then transformed under its own name; the label as float32."""
    features = columns.features
    label = columns.label

    def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = {name: _apply(_impute(inputs[name], name, spec), name, spec) for name, spec in features.items()}
        outputs[label] = tf.cast(inputs[label], tf.float32)
        return outputs

    return preprocessing_fn


def categorical_cardinality(name: str, spec: ColumnSpec, vocabulary_size: Callable[[str], int]) -> int | None:
    """How many ids a categorical feature can take (None for numeric features)."""
    transform = spec.transform
    if transform is None or not transform.is_categorical:
        return None
    if transform.kind == "vocabulary":
        return vocabulary_size(name) + transform.oov_buckets
    assert transform.num_buckets is not None
    return transform.num_buckets
