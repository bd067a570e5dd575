"""Reading the transformed TFRecords as (features, label) batches."""

from __future__ import annotations

import tensorflow as tf


def transformed_dataset(
    file_pattern: str,
    feature_spec: dict[str, tf.io.FixedLenFeature],
    label: str,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Batches of ``({name: [batch, 1] tensor}, [batch, 1] float32 label)``."""
    files = tf.io.gfile.glob(file_pattern)
    if not files:
        raise FileNotFoundError(f"no transformed examples match {file_pattern}")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if shuffle:
        dataset = dataset.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size)

    def parse(serialized: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        parsed = tf.io.parse_example(serialized, feature_spec)
        target = tf.reshape(tf.cast(parsed.pop(label), tf.float32), [-1, 1])
        return {name: tf.reshape(value, [-1, 1]) for name, value in parsed.items()}, target

    options = tf.data.Options()
    # One file per split is common at demo size: shard by element, not by file, across workers.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE).with_options(options)
