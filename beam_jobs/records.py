"""The two tf.Example shapes bigtrain writes.

* **Ingested records** (output of ingest): one per input row, lossless. Each column is a bytes feature
  holding the cell's text exactly as read (absent when the cell is empty). Reserved features, which no
  column can be named since names may not start with ``_``: ``_source`` (where the row came from),
  ``_error`` (why the row could not be split into columns) and ``_raw`` (the raw line, on errors).
* **Raw examples** (output of preprocess, input of TFMA and of the serving signature): typed features
  (float → float_list, int → int64_list, string → bytes_list); a missing value is an absent feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

SOURCE = "_source"
ERROR = "_error"
RAW = "_raw"


def _bytes_feature(value: str) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))


def encode_ingested(cells: Mapping[str, str], source: str, error: str | None = None, raw: str | None = None) -> bytes:
    """Serialize one ingested row; empty cells are left out."""
    feature = {name: _bytes_feature(text) for name, text in cells.items() if text != ""}
    feature[SOURCE] = _bytes_feature(source)
    if error is not None:
        feature[ERROR] = _bytes_feature(error)
        feature[RAW] = _bytes_feature(raw or "")
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def decode_ingested(serialized: bytes) -> dict[str, str]:
    """Parse an ingested row back to ``{name: text}``, reserved features included."""
    example = tf.train.Example.FromString(serialized)
    return {
        name: feature.bytes_list.value[0].decode("utf-8")
        for name, feature in example.features.feature.items()
        if feature.bytes_list.value
    }


def encode_typed(values: Mapping[str, Any], types: Mapping[str, str]) -> bytes:
    """Serialize a cleaned row; ``None`` values are left out (a missing value)."""
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
            feature[name] = _bytes_feature(value)
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def decode_typed(serialized: bytes) -> dict[str, Any]:
    """Parse a raw example back to plain Python values (for tests and tools)."""
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
