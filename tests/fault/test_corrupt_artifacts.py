"""Corrupted artifacts are detected by the code that reads them, with one line naming the file, not a trace from
deep inside TensorFlow: a truncated TFRecord (ingest's output read by preprocess, preprocess's read by train), a
transform graph missing a file, a truncated or hand-edited ``registry.json`` or version entry, and a model directory
without ``saved_model.pb`` (for push and for evaluate). ``docs/reliability.md`` lists :data:`OUTCOMES`."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from components.push import registry
from tests.train_requests import demo_request

pytestmark = pytest.mark.slow
MODEL = "churn"

# (artifact, how it is corrupted, who reads it, what it says): the table of docs/reliability.md.
OUTCOMES = (
    (
        "ingest's raw examples (TFRecord, gzip)",
        "truncated",
        "preprocess (`beam_jobs.tfrecord_source.read_records`)",
        "`CorruptRecordError`: `<file>: N trailing bytes are not a whole record (record M; truncated file?)`",
    ),
    (
        "preprocess's transformed examples (TFRecord, gzip)",
        "truncated",
        "train",
        "`CorruptInputError`: `corrupt or truncated TFRecord <file>: <TensorFlow's reason>`",
    ),
    (
        "transform graph",
        "`transform_fn/saved_model.pb` deleted",
        "train",
        "`CorruptInputError`: `transform graph <dir>: transform_fn/saved_model.pb is missing ...`",
    ),
    (
        "`registry.json`",
        "truncated, or hand-edited",
        "every registry read (`list_versions`, `latest`, push)",
        "truncated: a warning naming the file; either way the version directories decide and the index is rewritten"
        " from them",
    ),
    (
        "a version's `bigtrain_version.json`",
        "truncated",
        "every registry read",
        "a warning naming the file; that version is not listed (incomplete), the others are",
    ),
    (
        "model directory",
        "no `saved_model.pb`",
        "push (`registry.publish`)",
        "`RegistryError`: `model_dir '<dir>' is not a SavedModel: no saved_model.pb`; nothing is published",
    ),
    (
        "model directory",
        "no `saved_model.pb`",
        "evaluate (`run_evaluation`)",
        "`FileNotFoundError`: `candidate model <dir>: saved_model.pb is missing (not a complete SavedModel)`",
    ),
)


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and "Traceback" not in text, text
    return text


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_truncated_raw_tfrecord_names_the_file(preprocessed, tmp_path: Path):
    from beam_jobs.tfrecord_framing import CorruptRecordError
    from beam_jobs.tfrecord_source import read_records

    paths, _, _ = preprocessed
    source = sorted(Path(paths.raw, "train").glob("part*"))[0]
    broken = tmp_path / source.name
    shutil.copy(source, broken)
    assert sum(len(batch) for batch in read_records(str(broken), 64)) > 0
    _truncate(broken)
    with pytest.raises(CorruptRecordError) as raised:
        sum(len(batch) for batch in read_records(str(broken), 64))
    assert _one_line(raised.value).startswith(f"{broken}: ") and "truncated" in str(raised.value)


def _request(preprocessed, demo_config, root: Path, transformed: str, graph: str):
    from components.train.settings import TrainingSettings

    training = TrainingSettings(epochs=1, batch_size=128, learning_rate=0.01, seed=7)
    paths = {"transformed_dir": transformed, "transform_graph_dir": graph}
    return demo_request(preprocessed, demo_config, root, training, **paths)


def test_a_truncated_transformed_tfrecord_stops_train_naming_the_file(preprocessed, demo_config, tmp_path: Path):
    from components.train.inputs import CorruptInputError
    from components.train.main import run

    paths, _, _ = preprocessed
    transformed = tmp_path / "transformed"
    shutil.copytree(paths.transformed, transformed)
    broken = sorted((transformed / "train").glob("part*"))[0]
    _truncate(broken)
    request = _request(preprocessed, demo_config, tmp_path, str(transformed), paths.transform_graph)
    with pytest.raises(CorruptInputError) as raised:
        run(request, tf_config={})
    assert _one_line(raised.value).startswith(f"corrupt or truncated TFRecord {broken}: ")
    assert not (tmp_path / "model" / "saved_model.pb").exists()


def test_a_transform_graph_missing_a_file_stops_train_naming_it(preprocessed, demo_config, tmp_path: Path):
    from components.train.inputs import CorruptInputError
    from components.train.main import run

    paths, _, _ = preprocessed
    graph = tmp_path / "graph"
    shutil.copytree(paths.transform_graph, graph)
    (graph / "transform_fn" / "saved_model.pb").unlink()
    request = _request(preprocessed, demo_config, tmp_path, paths.transformed, str(graph))
    with pytest.raises(CorruptInputError) as raised:
        run(request, tf_config={})
    assert _one_line(raised.value) == (
        f"transform graph {graph}: transform_fn/saved_model.pb is missing (an incomplete preprocess output)"
    )


def _model(root: Path, content: bytes = b"model") -> Path:
    """A directory registry.publish accepts (it copies files; it does not load the model)."""
    root.mkdir(parents=True)
    (root / registry.SAVED_MODEL_FILE).write_bytes(content)
    return root


def _publish(model_dir: Path, serving: Path) -> registry.PublishResult:
    return registry.publish(
        model_dir, serving, MODEL, metrics={"auc": 0.8}, config_hash="c", data_fingerprint="d", code_version="v"
    )


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """Two published versions of MODEL; returns the serving root."""
    serving = tmp_path / "serving"
    for number in (1, 2):
        _publish(_model(tmp_path / f"model{number}", f"model {number}".encode()), serving)
    return serving


@pytest.mark.parametrize("damage", ["truncated", "hand-edited"])
def test_a_broken_registry_index_is_named_and_rebuilt_from_the_versions(served: Path, damage: str, caplog):
    index = served / MODEL / registry.INDEX_FILE
    before = json.loads(index.read_text())
    if damage == "truncated":
        _truncate(index)
    else:
        edited = [dict(before[0], metrics={"auc": 0.99})]  # one entry dropped, one metric changed by hand
        index.write_text(json.dumps(edited))
    with caplog.at_level(logging.WARNING, logger=registry.__name__):
        versions = registry.list_versions(served, MODEL)
    assert [entry.version for entry in versions] == [1, 2] and versions[0].metrics == {"auc": 0.8}
    if damage == "truncated":
        assert any(registry.INDEX_FILE in record.getMessage() for record in caplog.records)
    assert json.loads(index.read_text()) == before


def test_a_truncated_version_entry_is_named_and_that_version_left_out(served: Path, caplog):
    entry = served / MODEL / "2" / registry.METADATA_FILE
    _truncate(entry)
    with caplog.at_level(logging.WARNING, logger=registry.__name__):
        versions = registry.list_versions(served, MODEL)
    assert [v.version for v in versions] == [1]
    assert any(str(entry.parent) in r.getMessage() and registry.METADATA_FILE in r.getMessage() for r in caplog.records)


def test_a_model_dir_without_saved_model_pb_is_not_published(served: Path, tmp_path: Path):
    model_dir = _model(tmp_path / "incomplete")
    (model_dir / registry.SAVED_MODEL_FILE).unlink()
    with pytest.raises(registry.RegistryError) as raised:
        _publish(model_dir, served)
    assert _one_line(raised.value) == f"model_dir {str(model_dir)!r} is not a SavedModel: no saved_model.pb"
    assert [v.version for v in registry.list_versions(served, MODEL)] == [1, 2]


def test_a_model_dir_without_saved_model_pb_stops_evaluate_naming_it(preprocessed, tmp_path: Path):
    from components.evaluate.analysis import run_evaluation

    paths, _, _ = preprocessed
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "variables").mkdir()
    with pytest.raises(FileNotFoundError) as raised:
        run_evaluation(str(model_dir), f"{paths.raw}/eval/part*", str(tmp_path / "eval"), "churned", [], {})
    assert _one_line(raised.value) == (
        f"candidate model {model_dir}: saved_model.pb is missing (not a complete SavedModel)"
    )
