"""The Keras model, built from the transformed features: numeric → dense input, categorical → embedding.

bigtrain uses tf_keras (Keras 2) on purpose: tf.Transform's layer is a tf_keras model, and tf_keras
``fit`` works under MultiWorkerMirroredStrategy where Keras 3 ``fit`` does not (keras-team/keras#20585).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    """A compiled binary classifier with one sigmoid output (float32 even under mixed precision)."""
    inputs: dict[str, keras.Input] = {}
    encoded = []
    for feature in sorted(features, key=lambda f: f.name):
        if feature.categorical:
            assert feature.cardinality is not None
            tensor = keras.Input(shape=(1,), name=feature.name, dtype="int64")
            embedded = keras.layers.Embedding(
                feature.cardinality, embedding_dim(feature.cardinality, max_embedding_dim), name=f"{feature.name}_emb"
            )(tensor)
            encoded.append(keras.layers.Flatten(name=f"{feature.name}_flat")(embedded))
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
