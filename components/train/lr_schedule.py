"""The learning-rate schedule: linear warmup to the peak rate, then cosine decay to zero."""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf
import tf_keras as keras


@keras.utils.register_keras_serializable(package="bigtrain")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """``peak × step/warmup`` for the first ``warmup_steps``, then ``peak × ½(1 + cos(π·progress))``."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int) -> None:
        super().__init__()
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = max(int(total_steps), self.warmup_steps + 1)

    def __call__(self, step: Any) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        warmup = tf.cast(max(self.warmup_steps, 1), tf.float32)
        decay_steps = tf.cast(self.total_steps - self.warmup_steps, tf.float32)
        progress = tf.clip_by_value((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        cosine = self.peak * 0.5 * (1.0 + tf.cos(math.pi * progress))
        if self.warmup_steps == 0:
            return cosine
        return tf.where(step < self.warmup_steps, self.peak * (step + 1.0) / warmup, cosine)

    def get_config(self) -> dict[str, Any]:
        """For saving the optimizer with the model."""
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}


def warmup_cosine(peak: float, warmup_steps: int, total_steps: int) -> WarmupCosine:
    """The schedule for ``total_steps`` optimizer steps with ``warmup_steps`` of linear warmup."""
    return WarmupCosine(peak, warmup_steps, total_steps)
