"""Exporting the trained model with the transform graph attached, so serving cannot skew from training.

Signatures (both take ``examples``: a batch of serialized raw tf.Example, label not needed):
* ``serving_default`` → ``{"outputs": [batch, 1] float32}``, the positive-class probability.
* ``transform_features`` → the transformed features, exactly as the model saw them in training.

Both apply the serving contract (``components.train.serving_contract``) between parsing and the transform: a row
training would quarantine is rejected, an empty string in an optional column is imputed like an absent value. The
export directory also holds ``serving_schema.json``, which says what a client must send.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from beam_jobs.contract import Columns
from components.train.dataset import as_model_input
from components.train.serving_contract import SERVING_SCHEMA_FILE, enforce_serving_contract, serving_schema
from components.train.signatures import INPUT_NAME, OUTPUT_KEY, SERVING_SIGNATURE, TRANSFORM_SIGNATURE
from components.train.warm_start import save_for_warm_start

_EXAMPLES = tf.TensorSpec([None], tf.string, name=INPUT_NAME)


def export_model(model: keras.Model, tft_output: tft.TFTransformOutput, columns: Columns, export_dir: str) -> None:
    """Write a SavedModel with both signatures, the warm-start files and ``serving_schema.json`` to ``export_dir``."""
    label = columns.label
    previous_policy = keras.mixed_precision.global_policy()
    # The transform layer must be float32: under a bfloat16 policy its signature fails to trace.
    keras.mixed_precision.set_global_policy("float32")
    try:
        model.tft_layer = tft_output.transform_features_layer()
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    raw_spec = tft_output.raw_feature_spec()
    raw_spec.pop(label, None)
    input_names = set(model.input_names)

    def transform(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = enforce_serving_contract(tf.io.parse_example(serialized, raw_spec), columns)
        transformed = model.tft_layer(raw)
        transformed.pop(label, None)
        return transformed

    @tf.function(input_signature=[_EXAMPLES], autograph=False)
    def serve(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        transformed = transform(examples)
        inputs = {name: as_model_input(value) for name, value in transformed.items() if name in input_names}
        return {OUTPUT_KEY: tf.cast(model(inputs), tf.float32)}

    @tf.function(input_signature=[_EXAMPLES], autograph=False)
    def transform_features(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return transform(examples)

    signatures = {
        SERVING_SIGNATURE: serve.get_concrete_function(),
        TRANSFORM_SIGNATURE: transform_features.get_concrete_function(),
    }
    tf.saved_model.save(model, export_dir, signatures=signatures)
    save_for_warm_start(model, tft_output.transformed_feature_spec(), export_dir)
    with tf.io.gfile.GFile(os.path.join(export_dir, SERVING_SCHEMA_FILE), "w") as handle:
        handle.write(json.dumps(serving_schema(columns), indent=2) + "\n")
