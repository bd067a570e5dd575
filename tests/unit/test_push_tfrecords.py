"""The TensorFlow-free TFRecord sampler push uses, checked against TensorFlow's own writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from beam_jobs.tfrecord_framing import CorruptRecordError
from components.push.tfrecords import iter_records, sample_records


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import tensorflow as tf

    root = tmp_path_factory.mktemp("records")
    for shard in range(2):
        with tf.io.TFRecordWriter(str(root / f"part-{shard}.tfrecord.gz"), options="GZIP") as writer:
            for index in range(5):
                writer.write(f"shard{shard}-record{index}".encode() * (index + 1))
    return root


def test_reads_what_tensorflow_wrote_in_order(shards: Path) -> None:
    records = list(iter_records(str(shards / "part-0.tfrecord.gz")))
    assert records == [b"shard0-record%d" % i * (i + 1) for i in range(5)]


def test_samples_across_files_up_to_the_count(shards: Path) -> None:
    sample = sample_records(str(shards / "part-*.tfrecord.gz"), 7)
    assert len(sample) == 7 and sample[5] == b"shard1-record0"
    assert len(sample_records(str(shards / "part-*.tfrecord.gz"), 100)) == 10
    assert sample_records(str(shards / "none-*"), 3) == []


def test_a_corrupt_or_truncated_file_is_an_error_naming_it(shards: Path, tmp_path: Path) -> None:
    import gzip

    data = gzip.decompress((shards / "part-0.tfrecord.gz").read_bytes())
    flipped = tmp_path / "flipped.tfrecord.gz"
    flipped.write_bytes(gzip.compress(data[:14] + bytes([data[14] ^ 1]) + data[15:]))
    with pytest.raises(CorruptRecordError, match=r"flipped\.tfrecord\.gz: bad record checksum at byte 0 \(record 1\)"):
        list(iter_records(str(flipped)))
    truncated = tmp_path / "truncated.tfrecord.gz"
    truncated.write_bytes(gzip.compress(data[:-3]))
    cut_short = r"truncated\.tfrecord\.gz: \d+ trailing bytes are not a whole record \(record 5; truncated file\?\)"
    with pytest.raises(CorruptRecordError, match=cut_short):
        list(iter_records(str(truncated)))
