"""Reading the transformed TFRecords as (features, label) batches, as fast as the hardware reads them.

Files are read in parallel (interleave) and records are batched before parsing (one ``parse_example`` per batch,
not per record). When the split is small enough, the parsed examples are cached in memory so later epochs only
shuffle and batch. The next batches are prefetched while the model trains. Across workers the data is sharded by
element (``DATA``): at demo size there is one file per split, too few to give each worker its own files.
"""

from __future__ import annotations

import tensorflow as tf

CACHE_LIMIT_BYTES = 512 << 20  # compressed size under which a split's parsed examples are kept in memory
PARSE_BATCH = 1024  # records per parse_example call when parsing once for the cache


def as_model_input(value: tf.Tensor) -> tf.Tensor:
    """A transformed feature as the model takes it: a ``[batch]`` feature as ``[batch, 1]``; a ``[batch, slots]``
    bag of token ids (a text column) as it is."""
    return value if value.shape.rank == 2 else tf.reshape(value, [-1, 1])


def _files(file_pattern: str) -> list[str]:
    files = sorted(tf.io.gfile.glob(file_pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {file_pattern}")
    return files


def transformed_dataset(
    file_pattern: str,
    feature_spec: dict[str, tf.io.FixedLenFeature],
    label: str,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    repeat: bool = False,
    cache: bool | None = None,
) -> tf.data.Dataset:
    """Batches of ``({name: [batch, 1] tensor}, [batch, 1] float32 label)``; a text column's bag of token ids is
    ``[batch, slots]`` (see :func:`as_model_input`).

    ``cache`` defaults to True when the files are smaller than ``CACHE_LIMIT_BYTES``.
    """
    files = _files(file_pattern)
    if cache is None:
        cache = sum(tf.io.gfile.stat(f).length for f in files) < CACHE_LIMIT_BYTES
    dataset = tf.data.Dataset.from_tensor_slices(files).interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type="GZIP"),
        cycle_length=min(len(files), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
        # Deterministic even when shuffling: with DATA sharding every worker must see the same record order.
        deterministic=True,
    )

    def parse(serialized: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        parsed = tf.io.parse_example(serialized, feature_spec)
        target = tf.reshape(tf.cast(parsed.pop(label), tf.float32), [-1, 1])
        return {name: as_model_input(value) for name, value in parsed.items()}, target

    if cache:
        # Parse once in large batches and keep the parsed examples: later epochs only shuffle and batch.
        dataset = dataset.batch(PARSE_BATCH).map(parse, num_parallel_calls=tf.data.AUTOTUNE).unbatch().cache()
    if shuffle:
        dataset = dataset.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size)
    if not cache:
        dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)  # one parse_example per batch
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)
