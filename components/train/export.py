"""Exporting the trained model with the transform graph attached, so serving cannot skew from training.

Signatures (both take ``examples``: a batch of serialized raw tf.Example, label not needed):
* ``serving_default`` → ``{"outputs": [batch, 1] float32}``, the positive-class probability.
* ``transform_features`` → the transformed features, exactly as the model saw them in training.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from components.train.signatures import INPUT_NAME, OUTPUT_KEY, SERVING_SIGNATURE, TRANSFORM_SIGNATURE
from components.train.warm_start import save_for_warm_start

_EXAMPLES = tf.TensorSpec([None], tf.string, name=INPUT_NAME)


def export_model(model: keras.Model, tft_output: tft.TFTransformOutput, label: str, export_dir: str) -> None:
    """Write a SavedModel with both signatures to ``export_dir``."""
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
        transformed = model.tft_layer(tf.io.parse_example(serialized, raw_spec))
        transformed.pop(label, None)
        return transformed

    @tf.function(input_signature=[_EXAMPLES])
    def serve(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        transformed = transform(examples)
        inputs = {name: tf.reshape(value, [-1, 1]) for name, value in transformed.items() if name in input_names}
        return {OUTPUT_KEY: tf.cast(model(inputs), tf.float32)}

    @tf.function(input_signature=[_EXAMPLES])
    def transform_features(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return transform(examples)

    signatures = {
        SERVING_SIGNATURE: serve.get_concrete_function(),
        TRANSFORM_SIGNATURE: transform_features.get_concrete_function(),
    }
    tf.saved_model.save(model, export_dir, signatures=signatures)
    save_for_warm_start(model, tft_output.transformed_feature_spec(), export_dir)
