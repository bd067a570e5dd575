"""Tests for components.push.infra_validate: real tiny SavedModels served in a real subprocess."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components.push import infra_validate
from components.push.infra_validate import InfraValidationError, InfraValidationResult, validate_serving
from components.train.signatures import INPUT_NAME, OUTPUT_KEY, SERVING_SIGNATURE

XS = [-2.0, 0.0, 0.5, 3.0]


def example(x: float) -> bytes:
    feature = {"x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


EXAMPLES = [example(x) for x in XS]


def export(
    path: Path,
    head: Callable[[tf.Tensor], dict[str, tf.Tensor]],
    signature: str = SERVING_SIGNATURE,
    input_name: str = INPUT_NAME,
) -> Path:
    """Save a tf.Module whose signature parses float feature `x` from serialized Examples and returns head(x)."""

    class Scorer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=input_name)])
        def serve(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
            parsed = tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([], tf.float32)})
            return head(parsed["x"])

    module = Scorer()
    tf.saved_model.save(module, str(path), signatures={signature: module.serve})
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "good": export(root / "good", lambda x: {OUTPUT_KEY: tf.sigmoid(x)[:, None]}),
        "nan": export(root / "nan", lambda x: {"outputs": (tf.sigmoid(x) * tf.where(x > 0, math.nan, 1.0))[:, None]}),
        "above_one": export(root / "above_one", lambda x: {"outputs": x[:, None] + 1.0}),
        "no_default": export(root / "no_default", lambda x: {"outputs": tf.sigmoid(x)}, signature="predict"),
        "wrong_input": export(root / "wrong_input", lambda x: {"outputs": tf.sigmoid(x)}, input_name="inputs"),
    }


# ---------------------------------------------------------------------------------------------------------------
# End to end, through the subprocess


def test_good_model_passes_with_its_output_range(models: dict[str, Path]) -> None:
    result = validate_serving(models["good"], EXAMPLES)

    assert isinstance(result, InfraValidationResult)
    assert result.examples == len(XS)
    assert result.min_output == pytest.approx(1 / (1 + math.exp(2.0)), rel=1e-5)
    assert result.max_output == pytest.approx(1 / (1 + math.exp(-3.0)), rel=1e-5)
    assert 0 < result.seconds < 300


def test_model_returning_nan_fails_naming_non_finite(models: dict[str, Path]) -> None:
    with pytest.raises(InfraValidationError, match=r"^serving_default returned 2 non-finite values \(of 4\)$"):
        validate_serving(models["nan"], EXAMPLES)


def test_model_returning_values_above_one_fails(models: dict[str, Path]) -> None:
    with pytest.raises(InfraValidationError, match=r"returned 3 values outside \[0, 1\] \(min -1, max 4\)"):
        validate_serving(models["above_one"], EXAMPLES)


def test_dir_that_is_not_a_model_fails_to_load(tmp_path: Path) -> None:
    not_a_model = tmp_path / "not_a_model"
    not_a_model.mkdir()
    (not_a_model / "saved_model.pb").write_bytes(os.urandom(64))

    with pytest.raises(InfraValidationError, match=r"^model failed to load: \w+Error: .*saved_model\.pb") as info:
        validate_serving(not_a_model, EXAMPLES)
    assert "\n" not in str(info.value)


def test_missing_dir_fails_to_load_without_a_subprocess(tmp_path: Path) -> None:
    with pytest.raises(InfraValidationError, match=r"^model failed to load: .*nope is not a directory$"):
        validate_serving(tmp_path / "nope", EXAMPLES)


def test_model_without_serving_default_fails(models: dict[str, Path]) -> None:
    with pytest.raises(InfraValidationError, match=r"^no serving_default signature \(signatures: predict\)$"):
        validate_serving(models["no_default"], EXAMPLES)


def test_model_whose_input_is_not_named_examples_fails(models: dict[str, Path]) -> None:
    with pytest.raises(
        InfraValidationError, match=r"^serving_default has no input named 'examples' \(inputs: inputs\)$"
    ):
        validate_serving(models["wrong_input"], EXAMPLES)


def test_examples_the_model_cannot_parse_fail_with_tf_message(models: dict[str, Path]) -> None:
    with pytest.raises(InfraValidationError, match=r"^serving_default failed on 1 examples: .*Could not parse") as info:
        validate_serving(models["good"], [b"not an Example"])
    assert "\n" not in str(info.value)
    assert "[Op:" not in str(info.value)


def test_timeout_is_reported(models: dict[str, Path]) -> None:
    with pytest.raises(InfraValidationError, match=r"^serving check timed out after 0\.2s"):
        validate_serving(models["good"], EXAMPLES, timeout_s=0.2)


@pytest.mark.parametrize("bad", [[], ["a string, not bytes"]])
def test_bad_example_lists_are_rejected_up_front(models: dict[str, Path], bad: list) -> None:
    with pytest.raises(ValueError, match=r"at least one serialized example|must be bytes"):
        validate_serving(models["good"], bad)


# ---------------------------------------------------------------------------------------------------------------
# The pure checks and the crash path, without TF in a subprocess


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        ({"probabilities": np.array([0.1, 0.9])}, (0.1, 0.9)),
        ({"outputs": np.array([[0.2], [0.3]]), "logits": np.array([[9.0], [-9.0]])}, (0.2, 0.3)),
        ({"outputs": np.array([0, 1], dtype=np.int64)}, (0.0, 1.0)),
    ],
)
def test_check_outputs_accepts_one_score_per_example(outputs: dict, expected: tuple[float, float]) -> None:
    verdict = infra_validate._check_outputs(outputs, 2)
    assert verdict == {"ok": True, "min_output": expected[0], "max_output": expected[1]}


@pytest.mark.parametrize(
    ("outputs", "reason"),
    [
        ({"a": np.zeros(2), "b": np.zeros(2)}, "returned 2 outputs (a, b) and none is named 'outputs'"),
        ({}, "returned 0 outputs (none)"),
        ({"outputs": np.zeros((2, 3))}, "output 'outputs' has shape [2, 3], expected [2] or [2, 1]"),
        ({"outputs": np.zeros(3)}, "has shape [3], expected [2] or [2, 1]"),
        ({"outputs": np.array([b"a", b"b"], dtype=object)}, "has dtype object, expected a real number"),
        ({"outputs": np.array([np.inf, 0.5])}, "returned 1 non-finite values (of 2)"),
        ({"outputs": np.array([-0.5, 0.5])}, "returned 1 values outside [0, 1] (min -0.5, max 0.5)"),
    ],
)
def test_check_outputs_rejects(outputs: dict, reason: str) -> None:
    verdict = infra_validate._check_outputs(outputs, 2)
    assert verdict["ok"] is False
    assert reason in verdict["reason"]


@pytest.mark.parametrize(
    ("inputs", "reason"),
    [
        ({"examples": ("string", 1)}, None),
        ({"examples": ("string", None)}, None),
        ({"inputs": ("string", 1)}, "has no input named 'examples' (inputs: inputs)"),
        ({"examples": ("float32", 1)}, "input 'examples' is float32, expected string"),
        ({"examples": ("string", 0)}, "has rank 0, expected a 1-D batch"),
        ({"examples": ("string", 1), "mask": ("bool", 1)}, "needs inputs besides 'examples': mask"),
    ],
)
def test_check_inputs(inputs: dict, reason: str | None) -> None:
    problem = infra_validate._check_inputs(inputs)
    if reason is None:
        assert problem is None
    else:
        assert problem is not None and reason in problem


FAKE_TF_ABORTS_IN_LOAD = """
import os, sys, types
def _load(model_dir):
    sys.stderr.write("noise\\nF tensorflow/core/framework/x.cc:1] Check failed: bad graph\\n")
    sys.stderr.flush()
    os.abort()
saved_model = types.SimpleNamespace(load=_load)
"""


def _with_fake_tensorflow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str) -> None:
    """Make the real child import a stand-in `tensorflow` module (fast, and lets it crash on purpose)."""
    fake = tmp_path / "fake_site"
    fake.mkdir()
    (fake / "tensorflow.py").write_text(source)
    monkeypatch.setenv("PYTHONPATH", str(fake))


def test_child_crash_in_load_names_the_stage_and_last_stderr_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _with_fake_tensorflow(monkeypatch, tmp_path, FAKE_TF_ABORTS_IN_LOAD)
    with pytest.raises(
        InfraValidationError,
        match=r"^model failed to load \(subprocess exited with code -6\): F tensorflow/core/framework/x\.cc:1\] Check",
    ):
        validate_serving(tmp_path, EXAMPLES)


def test_child_that_cannot_import_tensorflow_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _with_fake_tensorflow(monkeypatch, tmp_path, 'raise ImportError("libtensorflow_framework.so.2: cannot open")\n')
    with pytest.raises(
        InfraValidationError,
        match=r"^could not import tensorflow \(subprocess exited with code 1\): ImportError: libtensorflow_framework",
    ):
        validate_serving(tmp_path, EXAMPLES)


def test_one_line_strips_tf_boilerplate() -> None:
    err = tf.errors.InvalidArgumentError(
        None,
        None,
        "Graph execution error:\n\nDetected at node ParseExample defined at (most recent call last):\n"
        "<stack traces unavailable>\nCould not parse example input, value: 'x'\n"
        "\t [[{{node ParseExample}}]] [Op:__inference_signature_wrapper_1]",
    )
    assert infra_validate._one_line(err) == "InvalidArgumentError: Could not parse example input, value: 'x'"
