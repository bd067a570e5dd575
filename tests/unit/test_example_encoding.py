"""The columnar tf.Example encoder writes exactly what protobuf writes, absent features stay absent, and the TFRecord
framing, the background-gzip sink and the batch reader round-trip through TensorFlow's own reader."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest
import tensorflow as tf

from beam_jobs.example_encoding import ExampleEncoder, frame_records
from beam_jobs.options import pipeline_options
from beam_jobs.records import decode_typed, encode_typed
from beam_jobs.tfrecord_framing import CorruptRecordError
from beam_jobs.tfrecord_sink import WriteFramedRecords
from beam_jobs.tfrecord_source import read_records

N = 600


def example_bytes(values: dict) -> bytes:
    """The deterministic protobuf serialization (map keys sorted) of one row; None = absent."""
    feature = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, float):
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        elif isinstance(value, int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def _unframe(data: bytes) -> list[bytes]:
    """Read framed TFRecord bytes back with TensorFlow's reader."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "x.tfrecord"
        path.write_bytes(data)
        return [r.numpy() for r in tf.data.TFRecordDataset(str(path))]


@pytest.fixture(scope="module")
def batch() -> pa.RecordBatch:
    rng = np.random.default_rng(3)
    floats = rng.normal(0, 1e6, N).astype(np.float32)
    floats[:3] = [np.inf, -0.0, np.float32(1e-45)]
    ints = rng.integers(-(2**63), 2**63 - 1, N, dtype=np.int64)
    ints[: N // 2] = rng.integers(-300, 70_000, N // 2)
    texts = [bytes(rng.integers(0, 256, int(k), dtype=np.uint8)) for k in rng.integers(0, 300, N)]
    return pa.RecordBatch.from_arrays(
        [
            pa.array(floats, mask=rng.random(N) < 0.2),
            pa.array(ints, mask=rng.random(N) < 0.3),
            pa.array(texts, pa.binary(), mask=pa.array(rng.random(N) < 0.1)),
            pa.array(np.arange(N)),
        ],
        names=["zeta", "alpha", "a_long_feature_name_" * 8, "row"],
    )


def test_records_equal_protobuf_serialization_byte_for_byte(batch):
    framed = ExampleEncoder().encode_framed(batch)
    assert framed.records == N
    expected = [example_bytes(row) for row in batch.to_pylist()]
    assert _unframe(framed.data) == expected
    assert any(value is None for row in batch.to_pylist() for value in row.values())


def test_missing_values_are_absent_features_like_the_row_encoder():
    batch = pa.RecordBatch.from_arrays(
        [pa.array([1.5, None], pa.float32()), pa.array([None, b"x"], pa.binary()), pa.array([1, 0])],
        names=["f", "s", "y"],
    )
    records = _unframe(ExampleEncoder().encode_framed(batch).data)
    types = {"f": "float", "s": "string", "y": "int"}
    expected = [encode_typed({"f": 1.5, "s": None, "y": 1}, types), encode_typed({"s": "x", "y": 0}, types)]
    assert [tf.train.Example.FromString(r) for r in records] == [tf.train.Example.FromString(r) for r in expected]
    assert set(tf.train.Example.FromString(records[0]).features.feature) == {"f", "y"}
    assert decode_typed(records[1]) == {"s": "x", "y": 0}


def test_one_value_lists_as_tf_transform_emits_them(batch):
    offsets = pa.array(np.arange(N + 1), pa.int64())
    scalars = {"row": batch.column("row"), "zeta": batch.column("zeta").fill_null(0.5)}
    lists = pa.RecordBatch.from_arrays(
        [pa.LargeListArray.from_arrays(offsets, column) for column in scalars.values()], names=list(scalars)
    )
    records = _unframe(ExampleEncoder().encode_framed(lists).data)
    expected = pa.RecordBatch.from_arrays(list(scalars.values()), names=list(scalars)).to_pylist()
    assert records == [example_bytes(row) for row in expected]


def test_longer_lists_take_the_general_encoder():
    lists = pa.RecordBatch.from_arrays([pa.array([[1.0, 2.0], [], [3.0]], pa.list_(pa.float32()))], names=["v"])
    records = _unframe(ExampleEncoder().encode_framed(lists).data)
    assert [list(tf.train.Example.FromString(r).features.feature["v"].float_list.value) for r in records] == [
        [1.0, 2.0],
        [],
        [3.0],
    ]


def test_frame_records_is_what_tensorflow_reads():
    records = [b"", b"a", b"x" * 300]
    assert _unframe(frame_records(records)) == records


def test_sink_and_reader_round_trip_through_gzip(tmp_path: Path, batch):
    encoder = ExampleEncoder()
    parts = [encoder.encode_framed(batch.slice(i, 100)).data for i in range(0, N, 100)]
    prefix = str(tmp_path / "out" / "part")
    with beam.Pipeline(options=pipeline_options()) as pipeline:
        _ = pipeline | beam.Create(parts) | WriteFramedRecords(prefix, ".tfrecord.gz")
    files = sorted((tmp_path / "out").glob("part-*.tfrecord.gz"))
    assert files
    read = [r.numpy() for r in tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP")]
    assert sorted(read) == sorted(_unframe(b"".join(parts)))
    batches = [b for f in files for b in read_records(str(f), batch_size=250)]
    assert all(len(b) <= 250 for b in batches)
    assert sorted(record for b in batches for record in b) == sorted(read)


def test_reader_rejects_corrupt_and_truncated_files(tmp_path: Path):
    good = frame_records([b"abc", b"defg"])
    path = tmp_path / "x.tfrecord.gz"
    path.write_bytes(gzip.compress(good[:-2]))
    with pytest.raises(CorruptRecordError, match="trailing bytes"):
        list(read_records(str(path), 10))
    flipped = bytearray(good)
    flipped[13] ^= 1
    path.write_bytes(gzip.compress(bytes(flipped)))
    with pytest.raises(CorruptRecordError, match="bad record checksum"):
        list(read_records(str(path), 10))


def test_fast_decoder_builds_the_batches_tfxio_builds(batch):
    from tfx_bsl.coders.example_coder import ExamplesToRecordBatchDecoder

    from beam_jobs.contract import parse_columns
    from beam_jobs.tfrecord_source import ExampleDecoder
    from beam_jobs.transform import raw_schema

    columns = parse_columns(
        {
            "zeta": {"type": "float", "missing": "mean"},
            "alpha": {"type": "int", "missing": {"fill": 0}},
            "a_long_feature_name_" * 8: {"type": "string", "transform": "vocabulary", "missing": "mode"},
            "row": {"type": "int", "role": "label"},  # required: a FixedLen feature
        }
    )
    schema = raw_schema(columns)
    records = _unframe(ExampleEncoder().encode_framed(batch).data)
    records[5] = example_bytes({"row": 1, "zeta": float("nan"), "alpha": -1})  # NaN, and the string absent
    expected = ExamplesToRecordBatchDecoder(schema.SerializeToString()).DecodeBatch(records)
    decoder = ExampleDecoder(schema)
    got = decoder.decode(records)
    assert decoder._spec is not None  # the fast path was taken
    assert got.schema.equals(expected.schema)
    for name in expected.schema.names:
        assert got.column(name).to_pylist()[:5] == expected.column(name).to_pylist()[:5]
        assert str(got.column(name).to_pylist()) == str(expected.column(name).to_pylist()), name
        assert got.column(name).null_count == expected.column(name).null_count
    # A record without a required feature: TensorFlow refuses it, the reference decoder decides.
    without_label = [example_bytes({"zeta": 1.0})]
    fallback = decoder.decode(without_label)
    assert fallback.equals(ExamplesToRecordBatchDecoder(schema.SerializeToString()).DecodeBatch(without_label))
