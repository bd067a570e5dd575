"""Raw examples, one row at a time: the reference encoding and a decoder for tests and tools.

**Raw examples** (output of ingest, input of tf.Transform, TFMA and the serving signature) hold typed
features (float → float_list, int → int64_list, string → bytes_list); a missing value is an absent feature.
Ingest writes them in batches with :mod:`beam_jobs.example_encoding`; these row-level functions define
the same format and import TensorFlow only when called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def encode_typed(values: Mapping[str, Any], types: Mapping[str, str]) -> bytes:
    """Serialize a cleaned row; ``None`` values are left out (a missing value)."""
    import tensorflow as tf

    feature: dict[str, tf.train.Feature] = {}
    for name, value in values.items():
        if value is None:
            continue
        kind = types[name]
        if kind == "float":
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        elif kind == "int":
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def decode_typed(serialized: bytes) -> dict[str, Any]:
    """Parse a raw example back to plain Python values; an absent feature is left out."""
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    values: dict[str, Any] = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "float_list":
            values[name] = feature.float_list.value[0]
        elif kind == "int64_list":
            values[name] = feature.int64_list.value[0]
        elif kind == "bytes_list":
            values[name] = feature.bytes_list.value[0].decode("utf-8")
    return values
