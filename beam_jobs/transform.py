"""The tf.Transform side of the data contract: the raw schema and the preprocessing_fn.

Missing-value imputation, outlier clipping, feature crosses and text tokenizing live here, in the transform graph,
so a serving request is imputed, clipped, crossed and tokenized exactly as training data was. Analyzers (mean,
vocabularies, quantiles, z-score statistics) run on the train split only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import schema_utils

from beam_jobs.contract import Clip, Columns, ColumnSpec, Cross, Transform, check_crosses

_DTYPES = {"float": tf.float32, "int": tf.int64, "string": tf.string}
# A clip quantile is hit exactly when it is a multiple of 1/MAX_CLIP_BUCKETS (0.01, 0.025, 0.0005 …), else to within
# that; the quantile sketch adds a rank error of at most ClipPlan.epsilon × the train rows.
MAX_CLIP_BUCKETS = 10_000
CROSS_SEPARATOR = "\x1f"  # between the parts of a cross's key; each part is "<byte length>:<value>"
TOKEN_PADDING = -1  # fills a text column's bag of token ids beyond its tokens; the model ignores it
TOKEN_SEPARATORS = r"[\pP\pS]"  # Unicode punctuation and symbols split tokens, as whitespace does
NGRAM_SEPARATOR = " "


def raw_feature_spec(columns: Columns) -> dict[str, tf.io.FixedLenFeature | tf.io.VarLenFeature]:
    """Parsing spec of the raw examples the transform reads: features and the label.

    Required columns (missing → quarantine) are fixed-length, so a serving request without them fails
    loudly; imputed columns are var-length, so they may be absent.
    """
    spec: dict[str, tf.io.FixedLenFeature | tf.io.VarLenFeature] = {}
    for name, column in columns.columns.items():
        if column.role not in ("feature", "label"):
            continue
        dtype = _DTYPES[column.value_type]
        spec[name] = tf.io.FixedLenFeature([], dtype) if column.required else tf.io.VarLenFeature(dtype)
    return spec


def raw_schema(columns: Columns) -> schema_pb2.Schema:
    """The raw feature spec as a tf.metadata Schema."""
    return schema_utils.schema_from_feature_spec(raw_feature_spec(columns))


def _mode(values: tf.Tensor, name: str) -> tf.Tensor:
    """The most frequent of the present values, computed on train, in the values' dtype.

    Numbers are counted as integers, floats by their bits: a float's decimal string is rounded (not a train value),
    and while tracing tf.Transform reads a not-yet-computed vocabulary of strings as b"TEMPORARY_ASSET_VALUE", which
    no number parses (a numeric mode feeding a vocabulary crashed), while one of integers reads as a number.
    """
    keys = tf.bitcast(values, tf.int32) if values.dtype == tf.float32 else values
    vocab = tft.vocabulary(keys, top_k=1, vocab_filename=f"{name}_mode")
    initializer = tf.lookup.TextFileInitializer(
        vocab,
        key_dtype=tf.int64,
        key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
        value_dtype=tf.string,
        value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
    )
    table = tf.lookup.StaticHashTable(initializer, default_value="")
    mode = table.lookup(tf.constant(0, tf.int64))
    if values.dtype == tf.string:
        return mode
    number = tf.strings.to_number(mode, out_type=keys.dtype)
    return tf.bitcast(number, tf.float32) if values.dtype == tf.float32 else number


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
        default = _mode(x.values, name)
    dense = tft.sparse_tensor_to_dense_with_shape(x, [None, 1], default_value=default)
    return tf.squeeze(dense, axis=1)


def _as_string(x: tf.Tensor) -> tf.Tensor:
    return x if x.dtype == tf.string else tf.strings.as_string(x)


@dataclass(frozen=True)
class ClipPlan:
    """How a clip's quantiles are read off ``tft.quantiles``: ``num_buckets`` equal-mass buckets, whose
    ``num_buckets - 1`` boundaries hold the lower and upper quantile at ``lower_index`` / ``upper_index`` (None: no
    clip on that side). ``epsilon`` is the sketch's rank error, a tenth of the smaller configured tail (at most 0.001),
    so the 1% quantile is a train value whose rank is within 0.1% of the rows of the exact one (exact on small data).
    """

    num_buckets: int
    lower_index: int | None
    upper_index: int | None
    epsilon: float


def clip_plan(clip: Clip) -> ClipPlan:
    """The quantile analyzer settings that yield ``clip``'s lower and upper quantiles."""
    wanted = [q for q in (clip.lower, clip.upper) if 0 < q < 1]
    fractions = [Fraction(q).limit_denominator(MAX_CLIP_BUCKETS) for q in wanted]
    buckets = min(MAX_CLIP_BUCKETS, math.lcm(*(f.denominator for f in fractions)))

    def index(q: float) -> int | None:
        if not 0 < q < 1:
            return None
        # Boundary k (0-based) of num_buckets equal-mass buckets is the (k + 1) / num_buckets quantile.
        return min(buckets - 1, max(1, round(q * buckets))) - 1

    tail = min(min(q, 1 - q) for q in wanted)
    return ClipPlan(buckets, index(clip.lower), index(clip.upper), min(0.001, tail / 10))


def tokenize(text: tf.Tensor, max_tokens: int, ngrams: int) -> tf.RaggedTensor:
    """The tokens of each [batch] string: lowercased (UTF-8), split on whitespace, punctuation and symbols, the first
    ``max_tokens`` words kept, then every n-gram of them up to ``ngrams`` words (unigrams first, words joined by a
    space). Empty or separator-only text has no tokens."""
    lowered = tf.strings.lower(text, encoding="utf-8")
    words = tf.strings.split(tf.strings.regex_replace(lowered, TOKEN_SEPARATORS, " "))[:, :max_tokens]
    if ngrams == 1:
        return words
    return tf.strings.ngrams(words, ngram_width=tuple(range(1, ngrams + 1)), separator=NGRAM_SEPARATOR)


def _token_ids(x: tf.Tensor, name: str, transform: Transform) -> tf.Tensor:
    """A [batch, token_slots] int64 bag of token ids, :data:`TOKEN_PADDING` after the value's tokens.

    Dense rather than ragged: a fixed-length feature parses, caches and batches like every other one.
    """
    assert transform.max_tokens is not None and transform.ngrams is not None
    tokens = tokenize(x, transform.max_tokens, transform.ngrams)
    ids = tft.compute_and_apply_vocabulary(
        tokens, top_k=transform.vocab_size, num_oov_buckets=transform.oov_buckets, vocab_filename=name
    )
    return ids.to_tensor(default_value=TOKEN_PADDING, shape=[None, transform.token_slots])


def _apply(x: tf.Tensor, name: str, spec: ColumnSpec) -> tf.Tensor:
    transform = spec.transform
    assert transform is not None  # features always get one (contract default)
    kind = transform.kind
    if kind == "tokens":
        return _token_ids(x, name, transform)
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


def _clip(x: tf.Tensor, observed: tf.Tensor, name: str, clip: Clip) -> tf.Tensor:
    """``x`` clipped to the train quantiles of the column's ``observed`` (present, not imputed) values."""
    plan = clip_plan(clip)
    boundaries = tft.quantiles(
        tf.cast(observed, tf.float32), plan.num_buckets, plan.epsilon, name=f"{name}_clip_quantiles"
    )[0]

    def bound(index: int) -> tf.Tensor:
        value = boundaries[index]  # a train value: integral for an int column
        return tf.cast(tf.round(value), x.dtype) if x.dtype.is_integer else tf.cast(value, x.dtype)

    if plan.lower_index is not None:
        x = tf.maximum(x, bound(plan.lower_index))
    if plan.upper_index is not None:
        x = tf.minimum(x, bound(plan.upper_index))
    return x


def _observed(x: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    return x.values if isinstance(x, tf.SparseTensor) else x


def _cross_part(spec: ColumnSpec, value: tf.Tensor, transformed: tf.Tensor) -> tf.Tensor:
    """A crossed column's part of the key: a bucketized column's bucket id, else its (imputed, clipped) value."""
    assert spec.transform is not None
    return _as_string(transformed if spec.transform.kind == "bucketize" else value)


def _cross_key(parts: Sequence[tf.Tensor]) -> tf.Tensor:
    """The string a cross hashes: each part as ``<byte length>:<value>``, joined by :data:`CROSS_SEPARATOR`.

    The length prefix makes the key unambiguous even when a string value contains the separator.
    """
    encoded = [tf.strings.join([tf.strings.as_string(tf.strings.length(part)), part], separator=":") for part in parts]
    return tf.strings.join(encoded, separator=CROSS_SEPARATOR)


def make_preprocessing_fn(
    columns: Columns, crosses: Sequence[Cross] = ()
) -> Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]:
    """The preprocessing_fn: every feature imputed, clipped (if configured) and transformed under its own name; each
    cross hashed into ``cross.hash`` ids under ``cross.name``; the label as float32.

    Raises CrossError when a cross does not fit the columns.
    """
    features = columns.features
    label = columns.label
    check_crosses(list(crosses), columns)

    def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        values = {}
        for name, spec in features.items():
            value = _impute(inputs[name], name, spec)
            values[name] = _clip(value, _observed(inputs[name]), name, spec.clip) if spec.clip else value
        outputs = {name: _apply(values[name], name, spec) for name, spec in features.items()}
        for cross in crosses:
            parts = [_cross_part(features[n], values[n], outputs[n]) for n in cross.cross]
            outputs[cross.name] = tf.strings.to_hash_bucket_fast(_cross_key(parts), cross.hash)
        outputs[label] = tf.cast(inputs[label], tf.float32)
        return outputs

    return preprocessing_fn


def categorical_cardinality(name: str, spec: ColumnSpec, vocabulary_size: Callable[[str], int]) -> int | None:
    """How many ids a categorical feature can take (None for numeric features)."""
    transform = spec.transform
    if transform is None or not transform.is_categorical:
        return None
    if transform.kind in ("vocabulary", "tokens"):
        return vocabulary_size(name) + transform.oov_buckets
    assert transform.num_buckets is not None
    return transform.num_buckets
