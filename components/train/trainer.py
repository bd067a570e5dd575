"""Training: a TrainRequest and a tf.distribute strategy in → an exported SavedModel, curves and a result.

The strategy is made by the caller (``components.train.main``) before any other TensorFlow op, as
MultiWorkerMirroredStrategy requires. Every worker runs this same function; only the chief's export is kept.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from beam_jobs.contract import Columns, Cross, check_crosses, parse_columns
from beam_jobs.layout import EVAL_SPLIT, TRAIN_SPLIT, split_files
from beam_jobs.transform import categorical_cardinality
from components.train import distribute, pruning
from components.train.curves import write_curves
from components.train.dataset import transformed_dataset
from components.train.export import export_model
from components.train.inputs import check_transform_graph, corrupt_records_named
from components.train.lr_schedule import warmup_cosine
from components.train.model import FeatureInput, build_model
from components.train.request import TrainRequest
from components.train.result import HISTORY_FILE, TrainingResult
from components.train.warm_start import warm_start

STEPS_PER_EXECUTION = 16
POLICIES = {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


class NonFiniteLossError(RuntimeError):
    """Training diverged: the loss became NaN or infinite."""


class TransformMismatchError(ValueError):
    """The transform graph does not compute the features the request's columns and crosses describe."""


def model_inputs(
    columns: Columns, tft_output: tft.TFTransformOutput, crosses: Sequence[Cross] = ()
) -> list[FeatureInput]:
    """The model's inputs, with each categorical feature's cardinality from the transform graph; a cross is a
    categorical input with ``cross.hash`` ids.

    Raises TransformMismatchError when the graph's transformed features are not these inputs and the label.
    """
    inputs = [
        FeatureInput(name, categorical_cardinality(name, spec, tft_output.vocabulary_size_by_name))
        for name, spec in columns.features.items()
    ] + [FeatureInput(cross.name, cross.hash) for cross in crosses]
    expected = {feature.name for feature in inputs} | {columns.label}
    computed = set(tft_output.transformed_feature_spec())
    if computed != expected:
        raise TransformMismatchError(
            f"the transform graph does not match the columns and crosses (missing: {sorted(expected - computed)}, "
            f"unexpected: {sorted(computed - expected)}); preprocess and train must get the same columns and crosses"
        )
    return inputs


@contextlib.contextmanager
def precision_policy(mode: str) -> Iterator[None]:
    """Train under the requested Keras mixed-precision policy, and put the process-wide policy back afterwards.

    float16 needs loss scaling, which tf_keras applies by wrapping the optimizer when the policy is mixed_float16.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(POLICIES[mode])
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


class _StopOnNonFinite(keras.callbacks.Callback):
    """Stop at the first batch whose loss is NaN or infinite, remembering where (TerminateOnNaN only stops)."""

    def __init__(self) -> None:
        super().__init__()
        self.where: str | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.where = f"epoch {self._epoch + 1}, step {batch + 1} (loss {float(loss)})"
            self.model.stop_training = True


def _callbacks(
    request: TrainRequest, guard: _StopOnNonFinite, prune: pruning.PruningPlan | None
) -> list[keras.callbacks.Callback]:
    logs_dir = request.logs_dir
    return [
        *(pruning.callbacks(logs_dir) if prune else []),
        guard,
        keras.callbacks.EarlyStopping(
            monitor="val_auc",
            mode="max",
            patience=request.training.early_stopping_patience,
            restore_best_weights=True,
            # A pruned run neither stops nor picks its best epoch before the final sparsity is reached.
            start_from_epoch=prune.end_epoch - 1 if prune else 0,
        ),
        # Resumes mid-training after a killed or preempted step: the directory is the same for every retry.
        keras.callbacks.BackupAndRestore(request.backup_dir),
        keras.callbacks.ModelCheckpoint(
            os.path.join(logs_dir, "checkpoints", "epoch-{epoch:03d}.weights.h5"), save_weights_only=True
        ),
        keras.callbacks.TensorBoard(os.path.join(logs_dir, "tensorboard"), update_freq="epoch"),
    ]


def _has_backup(backup_dir: str) -> bool:
    """True when an earlier attempt of this step left the chief's state, which BackupAndRestore resumes from.

    Other workers' ``workertemp_*`` leftovers do not count: they are never restored from.
    """
    return tf.train.latest_checkpoint(os.path.join(backup_dir, "chief")) is not None


def _count(known: int | None, transformed_dir: str, split: str, spec: Mapping[str, Any], label: str) -> int:
    """Examples in a split: preprocess's count when the request has it, else one pass over the records."""
    if known is not None:
        return known
    pattern = split_files(transformed_dir, split)
    counted = transformed_dataset(pattern, dict(spec), label, 1024, shuffle=False, cache=False)
    return int(sum(int(tf.shape(y)[0]) for _, y in counted))


def _check_finite(model: keras.Model) -> None:
    for weight in model.weights:
        if not bool(tf.reduce_all(tf.math.is_finite(tf.cast(weight, tf.float32)))):
            raise NonFiniteLossError(f"the trained model has non-finite weights in {weight.name}; not exporting it")


def train(request: TrainRequest, strategy: tf.distribute.Strategy, tf_config: Mapping[str, Any]) -> TrainingResult:
    """Train on ``<transformed_dir>/train``, early-stop on ``eval``, export to ``request.model_dir`` (chief only)."""
    started = time.monotonic()
    settings, model_settings = request.training, request.model
    columns = parse_columns(request.columns)
    check_crosses(request.crosses, columns)
    workers = distribute.worker_count(tf_config)
    chief = distribute.is_chief(tf_config)
    keras.utils.set_random_seed(settings.seed)
    resuming = _has_backup(request.backup_dir)
    check_transform_graph(request.transform_graph_dir)
    splits = [split_files(request.transformed_dir, name) for name in (TRAIN_SPLIT, EVAL_SPLIT)]
    with precision_policy(settings.mixed_precision), corrupt_records_named(splits):
        tft_output = tft.TFTransformOutput(request.transform_graph_dir)
        spec = tft_output.transformed_feature_spec()
        label = columns.label
        global_batch = settings.batch_size * workers
        train_data = transformed_dataset(
            split_files(request.transformed_dir, TRAIN_SPLIT),
            spec,
            label,
            global_batch,
            shuffle=True,
            seed=settings.seed,
            repeat=True,  # epochs are counted in steps, so several steps can run per execution
        )
        eval_data = transformed_dataset(
            split_files(request.transformed_dir, EVAL_SPLIT), spec, label, global_batch, False
        )
        train_examples = _count(request.train_examples, request.transformed_dir, TRAIN_SPLIT, spec, label)
        eval_examples = _count(request.eval_examples, request.transformed_dir, EVAL_SPLIT, spec, label)
        steps_per_epoch = max(1, math.ceil(train_examples / global_batch))
        with strategy.scope():
            model = build_model(
                model_inputs(columns, tft_output, request.crosses),
                hidden_units=list(model_settings.hidden_units),
                dropout=model_settings.dropout,
                max_embedding_dim=model_settings.max_embedding_dim,
                l2=model_settings.l2,
                learning_rate=warmup_cosine(
                    settings.learning_rate,
                    warmup_steps=round(settings.warmup_epochs * steps_per_epoch),
                    total_steps=settings.epochs * steps_per_epoch,
                ),
                clipnorm=settings.clipnorm,
                steps_per_execution=min(STEPS_PER_EXECUTION, steps_per_epoch),
            )
            # A resumed run continues its own weights; warm start applies to a fresh start only.
            warm = None if resuming else warm_start(model, request.warm_start_from, spec)
            # Wrapped after the warm start: the wrappers share the plain layers' (warm) weights. BackupAndRestore
            # saves the wrapped model, masks and pruning step included, so a resumed run continues the schedule.
            prune = pruning.plan(settings, steps_per_epoch)
            pruned_layers: list[str] = []
            if prune:
                model, pruned_layers = pruning.wrap(model, prune)
        guard = _StopOnNonFinite()
        history = model.fit(
            train_data,
            validation_data=eval_data,
            epochs=settings.epochs,
            steps_per_epoch=steps_per_epoch,
            validation_steps=max(1, math.ceil(eval_examples / global_batch)),
            callbacks=_callbacks(request, guard, prune),
            verbose=2,
        )
        if guard.where is not None:
            raise NonFiniteLossError(
                f"training diverged at {guard.where}; lower training.learning_rate or set training.clipnorm"
            )
        _check_finite(model)
        pruned = None
        if prune:
            model = pruning.strip(model)
            pruned = pruning.describe(prune, model, pruned_layers)
        target = distribute.write_dir(request.model_dir, tf_config)
        try:
            export_model(model, tft_output, columns, target)
        finally:
            if not chief:
                shutil.rmtree(target, ignore_errors=True)
    # With BackupAndRestore, fit continues at the saved epoch and History numbers epochs from there.
    resumed_from = history.epoch[0] if history.epoch else 0
    val_auc = [float(v) for v in history.history.get("val_auc", [math.nan])]
    # A pruned model can only be one from an epoch at final sparsity (see _callbacks), so only those compete.
    first_eligible = max(0, prune.end_epoch - 1 - resumed_from) if prune else 0
    best = max(range(min(first_eligible, len(val_auc) - 1), len(val_auc)), key=lambda i: val_auc[i])
    result = TrainingResult(
        epochs_run=resumed_from + len(history.epoch),
        best_epoch=resumed_from + best + 1,
        best_eval_auc=val_auc[best],
        final_eval_loss=float(history.history.get("val_loss", [math.nan])[-1]),
        train_examples_per_epoch=train_examples,
        seconds=round(time.monotonic() - started, 2),
        workers=workers,
        chief=chief,
        resumed_from_epoch=resumed_from,
        warm_started=bool(warm and warm.applied),
        warm_start_note=warm.note if warm else "",
        pruning=pruned,
    )
    if chief:
        os.makedirs(request.logs_dir, exist_ok=True)
        curves = {key: [float(v) for v in values] for key, values in history.history.items()}
        with open(os.path.join(request.logs_dir, HISTORY_FILE), "w") as handle:
            json.dump({"result": asdict(result), "history": curves}, handle, indent=2)
        result.write(request.logs_dir)
        write_curves(curves, request.logs_dir, first_epoch=resumed_from + 1)
    return result
