"""Training that survives and trains well: resume after SIGKILL, stop on divergence, warm start, curves, schedule."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components.train.request import TrainRequest, resume_key
from components.train.settings import ModelSettings, TrainingSettings
from tests.train_requests import demo_request

pytestmark = pytest.mark.slow


def _request(
    preprocessed, demo_config, root: Path, model: ModelSettings | None = None, **training: object
) -> TrainRequest:
    settings = {"epochs": 2, "batch_size": 128, "learning_rate": 0.01, "seed": 7, **training}
    return demo_request(preprocessed, demo_config, root, TrainingSettings(**settings), model=model or demo_config.model)


def _worker(request_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "components.train.main", str(request_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigkill_after_the_first_epoch_then_rerun_resumes(tmp_path: Path, preprocessed, demo_config):
    request = _request(preprocessed, demo_config, tmp_path, epochs=25, batch_size=16, early_stopping_patience=100)
    request.write(tmp_path / "request.json")
    first = _worker(tmp_path / "request.json")
    deadline = time.monotonic() + 120
    backup = tmp_path / "backup"
    # TF writes a checkpoint's data and index first and the `checkpoint` state file naming it last: killing before
    # that file exists would kill mid-backup, a different fault from the one this test is about.
    while not (backup.is_dir() and any(backup.rglob("checkpoint")) and any(backup.rglob("*.index"))):
        assert first.poll() is None, "training ended before the first backup was written:\n" + first.stdout.read()
        assert time.monotonic() < deadline, "no backup after 120 s"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    assert not (tmp_path / "model" / "saved_model.pb").exists()

    second = _worker(tmp_path / "request.json")
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output[-3000:]
    result = json.loads((tmp_path / "logs" / "result.json").read_text())
    assert result["resumed_from_epoch"] >= 1, "the rerun started from epoch 1 instead of the backup"
    assert result["epochs_run"] == 25
    assert (tmp_path / "model" / "saved_model.pb").is_file()
    assert not backup.exists() or not any(backup.iterdir()), "a finished run leaves no backup behind"


def test_divergence_stops_with_the_epoch_and_step_and_exports_nothing(tmp_path: Path, preprocessed, demo_config):
    from components.train.main import run
    from components.train.trainer import NonFiniteLossError

    request = _request(preprocessed, demo_config, tmp_path, learning_rate=1e30, clipnorm=None)
    with pytest.raises(NonFiniteLossError, match=r"training diverged at epoch 1, step \d+ \(loss (nan|inf)\)"):
        run(request, tf_config={})
    assert not (tmp_path / "model" / "saved_model.pb").exists()


def test_warm_start_when_compatible_and_a_cold_start_line_when_not(tmp_path: Path, preprocessed, demo_config, capsys):
    from components.train.main import run

    base = run(_request(preprocessed, demo_config, tmp_path / "base"), tf_config={})
    assert base.warm_started is False and base.warm_start_note == ""
    baseline = str(tmp_path / "base" / "model")

    warm = _request(preprocessed, demo_config, tmp_path / "warm", epochs=1)
    warm = warm.model_copy(update={"warm_start_from": baseline})
    result = run(warm, tf_config={})
    assert result.warm_started is True and result.warm_start_note == f"warm start: initialized from {baseline}"
    assert f"bigtrain: warm start: initialized from {baseline}" in capsys.readouterr().out
    # Starting from trained weights, one epoch is already as good as the two the baseline had.
    assert result.best_eval_auc > base.best_eval_auc - 0.02

    wider = ModelSettings(hidden_units=[32, 16], dropout=0.1)
    cold = _request(preprocessed, demo_config, tmp_path / "cold", epochs=1, model=wider)
    result = run(cold.model_copy(update={"warm_start_from": baseline}), tf_config={})
    assert result.warm_started is False
    assert result.warm_start_note.startswith(f"cold start: cannot warm-start from {baseline}: the model architecture")


def test_float16_trains_with_loss_scaling_and_serves_float32(tmp_path: Path, preprocessed, demo_config):
    import tf_keras as keras

    from components.train.main import run

    result = run(_request(preprocessed, demo_config, tmp_path, epochs=1, mixed_precision="float16"), tf_config={})
    assert result.best_eval_auc > 0.55
    assert keras.mixed_precision.global_policy().name == "float32"  # the process policy is restored
    curves = json.loads((tmp_path / "logs" / "curves.json").read_text())
    assert curves["epoch"] == [1] and len(curves["val_auc"]) == 1
    assert (tmp_path / "logs" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_key_is_stable_per_step_and_changes_with_code_data_or_settings():
    """Anything that changes what the model's variables hold or mean (its columns, crosses, input data and transform,
    starting point, settings, code) must name another backup, or a rerun restores an incompatible one."""
    from beam_jobs.contract import Cross, columns_to_dict, parse_columns

    columns = parse_columns({"a": {"type": "int"}, "b": {"type": "string"}, "y": {"type": "int", "role": "label"}})
    spelled_out = parse_columns(
        {
            "a": {"type": "int", "role": "feature", "transform": "identity", "missing": "quarantine"},
            "b": {"type": "string", "transform": {"vocabulary": {"oov_buckets": 1}}},
            "y": {"type": "int", "role": "label"},
        }
    )
    model, training = ModelSettings(), TrainingSettings()
    step = {"columns": columns, "inputs": ["transformed-1", "graph-1"], "warm_start_from": ""}

    def key(code="code-1", data="data-1", model=model, training=training, crosses=(), **changes) -> str:
        return resume_key(code, data, model, training, crosses, **{**step, **changes})

    assert key() == key(model=ModelSettings(), training=TrainingSettings(), columns=spelled_out)
    others = [
        key(code="code-2"),
        key(data="data-2"),
        key(model=ModelSettings(l2=1e-4)),
        key(training=TrainingSettings(epochs=6)),
        key(crosses=[Cross(cross=["a", "b"], hash=8)]),
        key(columns=parse_columns({**columns_to_dict(columns), "a": {"type": "int", "transform": {"bucketize": 4}}})),
        key(columns=parse_columns({**columns_to_dict(columns), "b": {"type": "string", "role": "ignore"}})),
        key(inputs=["transformed-2", "graph-1"]),  # preprocess ran again: another split, dedupe, or its code
        key(inputs=["transformed-1", "graph-2"]),
        key(warm_start_from="/serving/demo/3"),
    ]
    assert key() not in others and len(set(others)) == len(others)


def test_training_never_reads_the_test_split(tmp_path: Path, preprocessed, demo_config):
    """Train on a copy of the transformed data that has no test split at all: nothing may notice."""
    import shutil

    from components.train.main import run

    paths, _, _ = preprocessed
    without_test = tmp_path / "transformed"
    shutil.copytree(paths.transformed, without_test, ignore=shutil.ignore_patterns("test"))
    assert sorted(p.name for p in without_test.iterdir()) == ["eval", "train"]
    request = _request(preprocessed, demo_config, tmp_path, epochs=1)
    result = run(request.model_copy(update={"transformed_dir": str(without_test)}), tf_config={})
    assert result.best_eval_auc > 0.55 and (tmp_path / "model" / "saved_model.pb").is_file()
