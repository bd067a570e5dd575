"""The exported model's interface, defined once: the export writes it, TFMA and the serving check read it.

TensorFlow-free, so the evaluate and push steps can import it cheaply.
"""

SERVING_SIGNATURE = "serving_default"  # serialized raw tf.Example → the positive-class probability
TRANSFORM_SIGNATURE = "transform_features"  # serialized raw tf.Example → the transformed features
INPUT_NAME = "examples"  # the single input of both signatures: a 1-D batch of serialized tf.Example
OUTPUT_KEY = "outputs"  # serving_default's output: [batch, 1] float32
