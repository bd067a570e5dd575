"""Warm start: initialize a new model from the latest pushed one when the two are compatible.

Compatible means the same transformed features (names, types, shapes) and the same weights (names and shapes),
which is exactly what loading the weights needs. Anything else is a cold start with one line saying why.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import tensorflow as tf
import tf_keras as keras

WARM_START_DIR = "bigtrain"  # inside an exported model: what a later run needs to warm-start from it
SIGNATURE_FILE = "warm_start.json"
WEIGHTS_FILE = "weights.h5"


@dataclass(frozen=True)
class WarmStart:
    """Whether the weights were loaded, and the line that says so or why not."""

    applied: bool
    note: str


def model_signature(model: keras.Model, feature_spec: Mapping[str, Any]) -> dict[str, Any]:
    """What must match for weights to carry over: the transformed feature spec and every weight's name and shape."""
    features = {
        name: [type(spec).__name__, tf.as_dtype(spec.dtype).name, list(getattr(spec, "shape", []))]
        for name, spec in sorted(feature_spec.items())
    }
    weights = [[weight.name, list(weight.shape)] for weight in model.weights]
    return {"features": features, "weights": weights}


def save_for_warm_start(model: keras.Model, feature_spec: Mapping[str, Any], export_dir: str) -> None:
    """Write the weights and their signature next to an exported SavedModel."""
    directory = os.path.join(export_dir, WARM_START_DIR)
    tf.io.gfile.makedirs(directory)
    model.save_weights(os.path.join(directory, WEIGHTS_FILE))
    with tf.io.gfile.GFile(os.path.join(directory, SIGNATURE_FILE), "w") as handle:
        json.dump(model_signature(model, feature_spec), handle, indent=1, sort_keys=True)


def _mismatch(saved: Mapping[str, Any], current: Mapping[str, Any]) -> str | None:
    if saved["features"] != current["features"]:
        changed = sorted(set(saved["features"]).symmetric_difference(current["features"])) or sorted(
            name for name in current["features"] if saved["features"].get(name) != current["features"][name]
        )
        return f"the transformed features differ ({', '.join(changed[:5])})"
    if saved["weights"] != current["weights"]:
        return "the model architecture differs (layers or their sizes changed)"
    return None


def warm_start(model: keras.Model, baseline_dir: str, feature_spec: Mapping[str, Any]) -> WarmStart | None:
    """Load the baseline's weights into ``model`` when compatible; None when no baseline was given."""
    if not baseline_dir:
        return None
    signature_path = os.path.join(baseline_dir, WARM_START_DIR, SIGNATURE_FILE)
    if not tf.io.gfile.exists(signature_path):
        outcome = WarmStart(False, f"cold start: {baseline_dir} has no warm-start weights (pushed by older code)")
    else:
        with tf.io.gfile.GFile(signature_path) as handle:
            saved = json.load(handle)
        reason = _mismatch(saved, model_signature(model, feature_spec))
        if reason:
            outcome = WarmStart(False, f"cold start: cannot warm-start from {baseline_dir}: {reason}")
        else:
            model.load_weights(os.path.join(baseline_dir, WARM_START_DIR, WEIGHTS_FILE))
            outcome = WarmStart(True, f"warm start: initialized from {baseline_dir}")
    print(f"bigtrain: {outcome.note}", flush=True)
    return outcome
