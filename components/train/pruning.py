"""Magnitude pruning for serving (tensorflow-model-optimization): wrap the dense layers of a built model, keep the
pruning step in training, and strip the wrappers before export so the SavedModel has plain, sparse layers.

Only ``Dense`` kernels are pruned. Embeddings are left whole: an embedding row is read only for the ids in a batch,
so zeroing part of it saves no serving work, and a rare id's whole row would be the first to go.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

from components.train.settings import TrainingSettings

MAX_FREQUENCY = 100  # tfmot's default: masks are recomputed at most every this many steps
PRUNED_LAYER_TYPES = (keras.layers.Dense,)


@dataclass(frozen=True)
class PruningPlan:
    """Where the sparsity ramp starts and ends, in training steps, and how often masks are recomputed."""

    final_sparsity: float
    begin_step: int
    end_step: int
    frequency: int
    end_epoch: int  # 1-based: final sparsity holds from the end of this epoch on


def plan(settings: TrainingSettings, steps_per_epoch: int) -> PruningPlan | None:
    """The step schedule of ``settings.pruning`` (None when pruning is off).

    The frequency divides the ramp's length, so a mask update lands exactly on ``end_step``: with tfmot's default
    of 100 a short run would never prune at all, and one not dividing the ramp would stop short of the final sparsity.
    """
    pruning = settings.pruning
    if pruning is None:
        return None
    end_epoch = settings.pruning_end_epoch()
    begin_step, end_step = pruning.begin_epoch * steps_per_epoch, end_epoch * steps_per_epoch
    span = end_step - begin_step
    frequency = max(f for f in range(1, min(MAX_FREQUENCY, steps_per_epoch) + 1) if span % f == 0)
    return PruningPlan(pruning.final_sparsity, begin_step, end_step, frequency, end_epoch)


def wrap(model: keras.Model, schedule: PruningPlan) -> tuple[keras.Model, list[str]]:
    """``model`` with every Dense layer wrapped for pruning, compiled as ``model`` was; and the wrapped layers' names.

    The wrapped layers are ``model``'s own (weights shared, so a warm start applied to ``model`` carries over).
    Call inside the strategy scope ``model`` was built in.
    """
    polynomial = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0,
        final_sparsity=schedule.final_sparsity,
        begin_step=schedule.begin_step,
        end_step=schedule.end_step,
        frequency=schedule.frequency,
    )
    pruned_names: list[str] = []

    def wrap_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, PRUNED_LAYER_TYPES):
            pruned_names.append(layer.name)
            # The wrapper computes in the wrapped layer's policy: the float32 output layer stays float32 under a
            # mixed-precision global policy (else the masking multiplies bfloat16 by float32 and fails).
            return tfmot.sparsity.keras.prune_low_magnitude(
                layer, pruning_schedule=polynomial, dtype=layer.dtype_policy
            )
        return layer

    pruned = keras.models.clone_model(model, clone_function=wrap_layer)
    # Compiled exactly as build_model compiled the unpruned model (tf_keras's own cloning reads the same arguments).
    pruned.compile(**model._get_compile_args(), steps_per_execution=int(model.steps_per_execution.numpy()))
    return pruned, sorted(pruned_names)


def callbacks(logs_dir: str) -> list[keras.callbacks.Callback]:
    """The pruning callbacks: the step update (required; put it first so masks are re-applied at each epoch end
    before any other callback reads the weights) and the per-layer sparsity in TensorBoard."""
    return [
        tfmot.sparsity.keras.UpdatePruningStep(),
        tfmot.sparsity.keras.PruningSummaries(os.path.join(logs_dir, "tensorboard", "pruning")),
    ]


def strip(model: keras.Model) -> keras.Model:
    """The model with its pruning wrappers removed: plain layers holding the masked (sparse) weights, compiled.

    The masks are applied once more first: the last optimizer step (or early stopping's weight restore) may have
    moved pruned weights off zero since the last epoch-end re-masking.
    """
    for layer in model.layers:
        if isinstance(layer, PruneLowMagnitude):
            layer.pruning_obj.weight_mask_op()
    stripped = tfmot.sparsity.keras.strip_pruning(model)
    # Compiled like the wrapped model (same optimizer object): the export then holds what an unpruned one holds
    # (optimizer state included), so their sizes differ by the sparsity alone.
    stripped.compile(**model._get_compile_args(), steps_per_execution=int(model.steps_per_execution.numpy()))
    return stripped


def describe(schedule: PruningPlan, stripped: keras.Model, layers: list[str]) -> dict[str, Any]:
    """What the training result records: the schedule, the pruned layers and the zero share of their kernels."""
    kernels = [stripped.get_layer(name).kernel.numpy() for name in layers]
    zeros = sum(int(np.count_nonzero(kernel == 0)) for kernel in kernels)
    total = sum(kernel.size for kernel in kernels)
    return {**asdict(schedule), "layers": layers, "kernel_sparsity": round(zeros / total, 4) if total else 0.0}
