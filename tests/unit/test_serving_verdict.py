"""The serving check run beside evaluation (a real child process) and push honouring its verdict for the same bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tensorflow as tf

from beam_jobs.layout import SERVING_CHECK_FILE
from components.push import pusher
from components.push.infra_validate import InfraValidationError
from components.push.serving_verdict import recorded_verdict, serving_check_beside
from components.train.signatures import OUTPUT_KEY
from tests.unit.test_baseline_and_repush import push_model
from tests.unit.test_infra_validate import EXAMPLES, export
from tests.unit.test_registry import MODEL


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("verdict-models")
    return {
        "good": export(root / "good", lambda x: {OUTPUT_KEY: tf.sigmoid(x)[:, None]}),
        "other": export(root / "other", lambda x: {OUTPUT_KEY: tf.sigmoid(2.0 * x)[:, None]}),
        "above_one": export(root / "above_one", lambda x: {OUTPUT_KEY: x[:, None] + 1.0}),
    }


@pytest.fixture
def examples(tmp_path: Path) -> str:
    directory = tmp_path / "examples"
    directory.mkdir()
    with tf.io.TFRecordWriter(str(directory / "part-00000.gz"), options="GZIP") as writer:
        for record in EXAMPLES:
            writer.write(record)
    return str(directory / "part-*")


def _check_beside(model: Path, examples: str, blessed: Path) -> Path:
    verdict = blessed / SERVING_CHECK_FILE
    with serving_check_beside(str(model), examples, str(verdict)):
        pass  # evaluation would run here
    return verdict


def _push(model: Path, blessed: Path, examples: str, tmp_path: Path) -> dict:
    return push_model(model, blessed, tmp_path / "serving", tmp_path, examples)


def test_push_publishes_on_the_verdict_recorded_beside_evaluation(
    models: dict[str, Path], examples: str, blessed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verdict = _check_beside(models["good"], examples, blessed)
    passed = recorded_verdict(str(verdict), str(models["good"]))
    assert passed is not None and passed.examples == len(EXAMPLES)
    assert 0.0 < passed.min_output <= passed.max_output < 1.0 and passed.seconds > 0
    monkeypatch.setattr(pusher, "sample_examples", lambda *a, **k: pytest.fail("push must not check again"))
    outcome = _push(models["good"], blessed, examples, tmp_path)
    assert outcome["pushed"] and outcome["version"] == 1
    assert outcome["infra_validation"]["checked_by"] == "evaluate"


def test_a_failed_verdict_stops_push_with_its_reason(
    models: dict[str, Path], examples: str, blessed: Path, tmp_path: Path
) -> None:
    _check_beside(models["above_one"], examples, blessed)
    with pytest.raises(InfraValidationError, match=r"outside \[0, 1\]"):
        _push(models["above_one"], blessed, examples, tmp_path)
    assert not (tmp_path / "serving" / MODEL).exists()


def test_a_verdict_for_other_bytes_is_not_trusted_push_checks_itself(
    models: dict[str, Path], examples: str, blessed: Path, tmp_path: Path
) -> None:
    candidate = shutil.copytree(models["good"], tmp_path / "candidate")
    _check_beside(candidate, examples, blessed)
    shutil.rmtree(candidate)
    shutil.copytree(models["other"], candidate)  # the bytes changed after the check
    assert recorded_verdict(str(blessed / SERVING_CHECK_FILE), str(candidate)) is None
    outcome = _push(candidate, blessed, examples, tmp_path)
    assert outcome["pushed"] and outcome["infra_validation"]["checked_by"] == "push"


def test_without_a_verdict_push_checks_itself(
    models: dict[str, Path], examples: str, blessed: Path, tmp_path: Path
) -> None:
    outcome = _push(models["good"], blessed, examples, tmp_path)
    assert outcome["pushed"] and outcome["infra_validation"]["checked_by"] == "push"


def test_a_model_dir_that_is_not_there_is_a_recorded_failure(examples: str, blessed: Path, tmp_path: Path) -> None:
    verdict = _check_beside(tmp_path / "missing", examples, blessed)
    assert '"ok": false' in verdict.read_text() and "is not a directory" in verdict.read_text()


def test_no_examples_records_nothing(models: dict[str, Path], blessed: Path, tmp_path: Path) -> None:
    verdict = _check_beside(models["good"], str(tmp_path / "none" / "*.gz"), blessed)
    assert not verdict.exists()


def test_an_evaluation_that_fails_stops_the_check_and_records_nothing(
    models: dict[str, Path], examples: str, blessed: Path
) -> None:
    verdict = blessed / SERVING_CHECK_FILE
    with (
        pytest.raises(RuntimeError, match="TFMA failed"),
        serving_check_beside(str(models["good"]), examples, str(verdict)),
    ):
        raise RuntimeError("TFMA failed")
    assert not verdict.exists()
