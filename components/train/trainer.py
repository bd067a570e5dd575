"""Training: transformed examples + transform graph + settings → an exported SavedModel and training logs."""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import tensorflow_transform as tft
import tf_keras as keras

from beam_jobs.contract import Columns
from beam_jobs.transform import categorical_cardinality
from components.train import distribute
from components.train.dataset import transformed_dataset
from components.train.export import export_model
from components.train.model import FeatureInput, build_model

HISTORY_FILE = "history.json"


@dataclass(frozen=True)
class TrainingResult:
    """What a training run did."""

    epochs_run: int
    best_epoch: int
    best_eval_auc: float
    final_eval_loss: float
    train_examples_per_epoch: int
    seconds: float
    workers: int
    chief: bool


def model_inputs(columns: Columns, tft_output: tft.TFTransformOutput) -> list[FeatureInput]:
    """The model's inputs, with each categorical feature's cardinality from the transform graph."""
    return [
        FeatureInput(name, categorical_cardinality(name, spec, tft_output.vocabulary_size_by_name))
        for name, spec in columns.features.items()
    ]


@contextlib.contextmanager
def _precision_policy(mixed: bool) -> Iterator[None]:
    """Train under mixed_bfloat16 when asked, and put the process-wide Keras policy back afterwards."""
    previous = keras.mixed_precision.global_policy()
    if mixed:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _callbacks(logs_dir: str, patience: int) -> list[keras.callbacks.Callback]:
    return [
        keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=patience, restore_best_weights=True),
        # Resumes mid-training after a preempted worker restarts (same logs_dir on retry).
        keras.callbacks.BackupAndRestore(os.path.join(logs_dir, "backup")),
        keras.callbacks.ModelCheckpoint(
            os.path.join(logs_dir, "checkpoints", "epoch-{epoch:03d}.weights.h5"), save_weights_only=True
        ),
        keras.callbacks.TensorBoard(os.path.join(logs_dir, "tensorboard"), update_freq="epoch"),
    ]


def train(
    transformed_dir: str,
    transform_graph_dir: str,
    columns: Columns,
    model_settings: dict[str, Any],
    training_settings: dict[str, Any],
    model_dir: str,
    logs_dir: str,
) -> TrainingResult:
    """Train on ``transformed_dir/train``, early-stop on ``eval``, export to ``model_dir``."""
    started = time.monotonic()
    tf_config = distribute.read_tf_config()
    keras.utils.set_random_seed(int(training_settings.get("seed", 42)))
    with _precision_policy(bool(training_settings.get("mixed_precision"))):
        tft_output = tft.TFTransformOutput(transform_graph_dir)
        spec = tft_output.transformed_feature_spec()
        label = columns.label
        batch_size = int(training_settings["batch_size"])
        train_data = transformed_dataset(
            os.path.join(transformed_dir, "train", "part*"),
            spec,
            label,
            batch_size,
            shuffle=True,
            seed=int(training_settings.get("seed", 42)),
        )
        eval_data = transformed_dataset(os.path.join(transformed_dir, "eval", "part*"), spec, label, batch_size, False)
        strategy = distribute.make_strategy(tf_config)
        with strategy.scope():
            model = build_model(
                model_inputs(columns, tft_output),
                hidden_units=list(model_settings["hidden_units"]),
                dropout=float(model_settings["dropout"]),
                max_embedding_dim=int(model_settings.get("max_embedding_dim", 16)),
                learning_rate=float(training_settings["learning_rate"]),
                clipnorm=training_settings.get("clipnorm"),
            )
        history = model.fit(
            train_data,
            validation_data=eval_data,
            epochs=int(training_settings["epochs"]),
            callbacks=_callbacks(logs_dir, int(training_settings.get("early_stopping_patience", 2))),
            verbose=2,
        )
        export_model(model, tft_output, label, distribute.write_dir(model_dir, tf_config))
        val_auc = [float(v) for v in history.history.get("val_auc", [math.nan])]
        best = max(range(len(val_auc)), key=lambda i: val_auc[i])
        result = TrainingResult(
            epochs_run=len(history.epoch),
            best_epoch=best + 1,
            best_eval_auc=val_auc[best],
            final_eval_loss=float(history.history.get("val_loss", [math.nan])[-1]),
            train_examples_per_epoch=int(sum(1 for _ in train_data.unbatch())),
            seconds=round(time.monotonic() - started, 2),
            workers=distribute.worker_count(tf_config),
            chief=distribute.is_chief(tf_config),
        )
        os.makedirs(logs_dir, exist_ok=True)
        with open(os.path.join(logs_dir, HISTORY_FILE), "w") as handle:
            json.dump({"result": asdict(result), "history": _jsonable(history.history)}, handle, indent=2)
        return result


def _jsonable(history: dict[str, list[Any]]) -> dict[str, list[float]]:
    return {key: [float(v) for v in values] for key, values in history.items()}
