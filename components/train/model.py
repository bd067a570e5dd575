"""The Keras model, built from the transformed features: numeric → dense input, categorical → embedding.

A categorical input is a bag of ids per example: one id for a vocabulary, hash, bucketized or crossed column, up to
``token_slots`` token ids for a text column (padded with -1). Each bag is embedded and mean-pooled, so a single id
is simply embedded and an empty bag (empty text) is a zero vector.

bigtrain uses tf_keras (Keras 2) on purpose: tf.Transform's layer is a tf_keras model, and tf_keras
``fit`` works under MultiWorkerMirroredStrategy where Keras 3 ``fit`` does not (keras-team/keras#20585).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import tensorflow as tf
import tf_keras as keras


@dataclass(frozen=True)
class FeatureInput:
    """One model input: numeric (float32) or categorical (int64 ids in [0, cardinality))."""

    name: str
    cardinality: int | None = None

    @property
    def categorical(self) -> bool:
        """True for id features fed to an embedding."""
        return self.cardinality is not None


def embedding_dim(cardinality: int, max_dim: int) -> int:
    """A common rule of thumb: about 6 × the fourth root of the cardinality, capped."""
    return max(2, min(max_dim, round(6 * math.pow(cardinality, 0.25))))


class MeanBagEmbedding(keras.layers.Embedding):
    """The mean embedding of each example's bag of ids: ``[batch, slots]`` int ids, negative ids pad → ``[batch, dim]``.

    An example without ids gets zeros. A subclass of Embedding so its weight keeps the name and shape a plain
    embedding has (warm start), and ``get_prunable_weights`` lets magnitude pruning treat it like one.
    """

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        ids = tf.cast(inputs, tf.int64)
        present = tf.cast(ids >= 0, self.compute_dtype)
        vectors = super().call(tf.maximum(ids, 0))
        total = tf.reduce_sum(vectors * present[:, :, None], axis=1)
        count = tf.reduce_sum(present, axis=1, keepdims=True)
        return total / tf.maximum(count, tf.ones_like(count))

    def compute_mask(self, inputs: tf.Tensor, mask: Any = None) -> None:
        return None

    def compute_output_shape(self, input_shape: Any) -> tf.TensorShape:
        return tf.TensorShape([input_shape[0], self.output_dim])

    def get_prunable_weights(self) -> list[tf.Variable]:
        """The embedding matrix (what pruning sparsifies, as for a plain Embedding)."""
        return [self.embeddings]


def build_model(
    features: list[FeatureInput],
    hidden_units: list[int],
    dropout: float,
    max_embedding_dim: int,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
    clipnorm: float | None,
    l2: float = 0.0,
    steps_per_execution: int = 1,
) -> keras.Model:
    """A compiled binary classifier with one sigmoid output (float32 even under mixed precision).

    Inputs are ``[batch, 1]``, except categorical ones, which take ``[batch, slots]`` bags of ids.
    """
    inputs: dict[str, keras.Input] = {}
    encoded = []
    for feature in sorted(features, key=lambda f: f.name):
        if feature.categorical:
            assert feature.cardinality is not None
            tensor = keras.Input(shape=(None,), name=feature.name, dtype="int64")
            dim = embedding_dim(feature.cardinality, max_embedding_dim)
            encoded.append(MeanBagEmbedding(feature.cardinality, dim, name=f"{feature.name}_emb")(tensor))
        else:
            tensor = keras.Input(shape=(1,), name=feature.name, dtype="float32")
            encoded.append(tensor)
        inputs[feature.name] = tensor
    hidden = keras.layers.Concatenate(name="features")(encoded) if len(encoded) > 1 else encoded[0]
    for index, units in enumerate(hidden_units):
        regularizer = keras.regularizers.L2(l2) if l2 else None
        hidden = keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer, name=f"dense_{index}")(
            hidden
        )
        if dropout:
            hidden = keras.layers.Dropout(dropout, name=f"dropout_{index}")(hidden)
    output = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="probability")(hidden)
    model = keras.Model(inputs=inputs, outputs=output)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=clipnorm)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
        # Several steps per call into the graph: on small models most of a step is Python overhead otherwise.
        steps_per_execution=steps_per_execution,
    )
    return model
