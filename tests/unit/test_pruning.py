"""Magnitude pruning for serving, on the small demo data: a pruned model reaches the configured sparsity in the
exported SavedModel (counted in a fresh process that imports only TensorFlow), has plain layers and serves raw
examples through both signatures; an unpruned one has no zero weights. The footprint measurements on both.
Settings errors name the field."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from beam_jobs.layout import TEST_SPLIT, split_files
from components.evaluate.footprint import LATENCY_BATCHES, directory_sizes, measure, pruning_comparison
from components.push.tfrecords import sample_records
from components.train.main import run
from components.train.settings import TrainingSettings
from pipelines.config import ConfigError, parse_config
from tests.conftest import DEMO_CONFIG
from tests.train_requests import demo_request

EPOCHS = 3
SPARSITY = 0.6

# Loads the export with only TensorFlow imported: zeros per dense kernel, both signatures on raw test examples.
_CHILD = textwrap.dedent(
    """
    import glob, json, sys
    import numpy as np
    import tensorflow as tf

    model_dir, records = sys.argv[1:3]
    model = tf.saved_model.load(model_dir)
    files = sorted(glob.glob(records))
    batch = tf.constant([r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(32)])
    scores = model.signatures["serving_default"](examples=batch)["outputs"].numpy().reshape(-1)
    features = model.signatures["transform_features"](examples=batch)
    print(json.dumps({
        "scores": scores.tolist(),
        "features": sorted(features),
        "kernels": {v.name: [int(np.count_nonzero(v.numpy() == 0)), int(v.numpy().size)]
                    for v in model.variables if v.name.endswith("kernel:0")},
        "variables": sorted(v.name for v in model.variables),
    }))
    """
)


def _train(root, preprocessed, demo_config, **training):
    settings = TrainingSettings(epochs=EPOCHS, batch_size=64, learning_rate=0.01, seed=7, **training)
    request = demo_request(preprocessed, demo_config, root, settings)
    return run(request, tf_config={}), str(root / "model")


def _served(model_dir: str, preprocessed) -> dict:
    paths, _, _ = preprocessed
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, model_dir, split_files(paths.raw, TEST_SPLIT)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pruned(tmp_path_factory, preprocessed, demo_config):
    # The ramp runs over epochs 2..3; early stopping may not end the run or pick an epoch before 3.
    pruning = {"final_sparsity": SPARSITY, "begin_epoch": 1, "end_epoch": 3}
    return _train(tmp_path_factory.mktemp("pruned"), preprocessed, demo_config, pruning=pruning)


@pytest.fixture(scope="module")
def unpruned(tmp_path_factory, preprocessed, demo_config):
    return _train(tmp_path_factory.mktemp("unpruned"), preprocessed, demo_config)


@pytest.fixture(scope="module")
def examples(preprocessed) -> list[bytes]:
    paths, _, _ = preprocessed
    return sample_records(split_files(paths.raw, TEST_SPLIT), max(LATENCY_BATCHES))


def test_pruned_export_reaches_the_sparsity_has_plain_layers_and_serves(pruned, preprocessed):
    result, model_dir = pruned
    served = _served(model_dir, preprocessed)
    assert set(served["kernels"]) == {f"{name}/kernel:0" for name in result.pruning["layers"]}
    assert len(served["kernels"]) == 3  # two hidden layers and the output layer
    for name, (zeros, size) in served["kernels"].items():
        assert abs(zeros / size - SPARSITY) <= 1 / size + 1e-9, name  # tfmot rounds to whole weights
    assert not [v for v in served["variables"] if "mask" in v or "threshold" in v or "pruning_step" in v]
    assert not [v for v in served["variables"] if v.endswith("embeddings:0") and "prune" in v]
    assert len(served["scores"]) == 32 and all(0.0 <= s <= 1.0 for s in served["scores"])
    assert served["features"]  # transform_features serves too
    assert result.pruning["kernel_sparsity"] == pytest.approx(SPARSITY, abs=0.01)
    assert result.best_epoch == 3  # only epochs at the final sparsity compete
    assert 0.6 < result.best_eval_auc <= 1.0


def test_unpruned_export_has_no_zero_weights(unpruned, preprocessed):
    result, model_dir = unpruned
    assert result.pruning is None
    kernels = _served(model_dir, preprocessed)["kernels"]
    assert sum(zeros for zeros, _ in kernels.values()) / sum(size for _, size in kernels.values()) < 0.01


def test_footprint_of_pruned_and_unpruned_models(pruned, unpruned, examples):
    sparse, dense = measure(pruned[1], examples), measure(unpruned[1], examples)
    assert sparse.kernel_sparsity == pytest.approx(SPARSITY, abs=0.01)
    assert 0 < sparse.weight_sparsity < sparse.kernel_sparsity  # embeddings and biases are not pruned
    assert dense.kernel_sparsity < 0.01
    for footprint in (sparse, dense):
        assert footprint.size_bytes > footprint.gzip_bytes > 0
        assert set(footprint.latency_ms) == {str(b) for b in LATENCY_BATCHES}
        assert all(ms > 0 for ms in footprint.latency_ms.values())
    assert sparse.gzip_bytes < dense.gzip_bytes  # zeros compress
    assert directory_sizes(pruned[1]) == (sparse.size_bytes, sparse.gzip_bytes)


def test_pruning_comparison_uses_an_unpruned_baseline_only(pruned, unpruned, examples):
    versus_unpruned = pruning_comparison(pruned[1], unpruned[1], examples[:4], SPARSITY, 0.8, 0.82, 3)
    assert versus_unpruned["candidate"]["auc"] == 0.8
    assert versus_unpruned["reference"]["version"] == 3 and versus_unpruned["reference"]["auc"] == 0.82
    assert versus_unpruned["reference"]["kernel_sparsity"] < 0.01
    versus_pruned = pruning_comparison(pruned[1], pruned[1], examples[:4], SPARSITY, 0.8, 0.8, 4)
    assert versus_pruned["reference"] is None
    assert pruning_comparison(pruned[1], None, examples[:4], SPARSITY, 0.8, None)["reference"] is None
    json.dumps(versus_unpruned, allow_nan=False)


@pytest.mark.parametrize(
    ("pruning", "epochs", "field", "why"),
    [
        ({"final_sparsity": 1.0}, 5, "training.pruning.final_sparsity", "less than 1"),
        ({"final_sparsity": 0}, 5, "training.pruning.final_sparsity", "greater than 0"),
        ({"begin_epoch": -1}, 5, "training.pruning.begin_epoch", "greater than or equal to 0"),
        ({"begin_epoch": 2, "end_epoch": 2}, 5, "training.pruning", "end_epoch (2) must be greater than begin_epoch"),
        ({"end_epoch": 6}, 5, "training", "pruning.end_epoch (6) must be at most epochs (5)"),
        ({"begin_epoch": 5}, 5, "training", "pruning.begin_epoch (5) must be less than epochs (5)"),
        ({"sparsity": 0.5}, 5, "training.pruning.sparsity", "unknown field"),
        ({}, 5, "training", "pruning needs workers: 1 (got 2)"),
    ],
)
def test_settings_errors_name_the_field(pruning, epochs, field, why):
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    workers = 2 if "workers" in why else 1
    raw.setdefault("training", {}).update(epochs=epochs, pruning=pruning, workers=workers)
    with pytest.raises(ConfigError) as error:
        parse_config(raw, source="run.yaml")
    assert f"run.yaml: {field}: " in str(error.value) and why in str(error.value)


def test_pruning_is_off_by_default_and_end_epoch_defaults_to_the_last():
    assert TrainingSettings().pruning is None
    settings = TrainingSettings(epochs=4, pruning={})
    assert (settings.pruning.final_sparsity, settings.pruning.begin_epoch, settings.pruning_end_epoch()) == (0.5, 0, 4)


def test_warm_start_then_pruning_under_bfloat16(tmp_path, unpruned, preprocessed, demo_config):
    settings = TrainingSettings(epochs=1, batch_size=64, mixed_precision="bfloat16", pruning={"final_sparsity": 0.7})
    # the wrappers share the warm weights, and the pruned export has plain names
    request = demo_request(preprocessed, demo_config, tmp_path, settings, warm_start_from=unpruned[1])
    result = run(request, tf_config={})
    assert result.warm_started, result.warm_start_note
    kernels = _served(str(tmp_path / "model"), preprocessed)["kernels"]
    # The masks rank magnitudes in bfloat16 here: weights tied with the threshold at 8 bits of mantissa are kept.
    assert all(abs(zeros / size - 0.7) <= 0.02 for zeros, size in kernels.values()), kernels


@pytest.mark.slow
def test_sigkill_mid_pruning_then_rerun_resumes_the_schedule(tmp_path, preprocessed, demo_config):
    import os
    import signal
    import time

    pruning = {"final_sparsity": SPARSITY}
    settings = TrainingSettings(epochs=12, batch_size=16, early_stopping_patience=100, pruning=pruning)
    request = demo_request(preprocessed, demo_config, tmp_path, settings)
    request.write(tmp_path / "request.json")
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "components.train.main", str(tmp_path / "request.json")]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    backup, deadline = tmp_path / "backup", time.monotonic() + 120
    while not (backup.is_dir() and any(backup.rglob("checkpoint")) and any(backup.rglob("*.index"))):
        assert first.poll() is None, "training ended before the first backup"
        assert time.monotonic() < deadline, "no backup after 120 s"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    result = json.loads((tmp_path / "logs" / "result.json").read_text())
    assert result["resumed_from_epoch"] >= 1 and result["epochs_run"] == 12
    # The restored pruning step continues the ramp: the final sparsity lands on the last step, not later.
    kernels = _served(str(tmp_path / "model"), preprocessed)["kernels"]
    assert all(abs(zeros / size - SPARSITY) <= 1 / size + 1e-9 for zeros, size in kernels.values()), kernels
