"""The push step records the data spans it trained on and publishes that data's statistics with the model.

The real push adapter over the real registry: a fake SavedModel (right file names, random bytes) whose passing
serving check evaluate recorded for its digest, so no TensorFlow runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kfp.dsl import Artifact, Dataset, Model

from beam_jobs.layout import COLUMN_STATS_FILE, EVALUATION_SUMMARY_FILE, PUSH_RECORD_FILE, SERVING_CHECK_FILE
from components.evaluate.analysis import BLESSED_MARKER
from components.push import registry
from components.push.component import push
from tests.unit.test_registry import MODEL, make_model

STATS = {"train": {"age": {"count": 70, "missing": 0, "mean": 41.5}}}


def _artifact(cls: type, path: Path) -> Artifact:
    path.mkdir(parents=True, exist_ok=True)
    return cls(uri=str(path))


def _push(tmp_path: Path, model: Path, data_spans: list, stats: dict | None = STATS) -> dict:
    blessing = _artifact(Artifact, tmp_path / "blessing")
    (Path(blessing.path) / BLESSED_MARKER).touch()
    verdict = {"ok": True, "examples": 4, "seconds": 1.0, "min_output": 0.1, "max_output": 0.9}
    verdict["model_digest"] = registry.model_digest(model)
    (Path(blessing.path) / SERVING_CHECK_FILE).write_text(json.dumps(verdict))
    evaluation = _artifact(Artifact, tmp_path / "evaluation")
    (Path(evaluation.path) / EVALUATION_SUMMARY_FILE).write_text(json.dumps({"overall": {"auc": 0.8}}))
    statistics = _artifact(Artifact, tmp_path / "statistics")
    if stats is not None:
        (Path(statistics.path) / COLUMN_STATS_FILE).write_text(json.dumps(stats))
    pushed = Artifact(uri=str(tmp_path / "run-1" / "push" / "pushed"))
    version = push(
        model=Model(uri=str(model)),
        blessing=blessing,
        evaluation=evaluation,
        raw_examples=_artifact(Dataset, tmp_path / "examples"),
        statistics=statistics,
        serving_root=str(tmp_path / "serving"),
        model_name=MODEL,
        config_hash="c",
        code_version="push-code",
        data_fingerprint="f",
        train_code_version="train-code",
        baseline_version=0,
        data_spans=data_spans,
        run_name="run-1",
        pushed=pushed,
    )
    record = json.loads((Path(pushed.path) / PUSH_RECORD_FILE).read_text())
    assert record["version"] == version
    return record


def test_push_records_the_spans_and_publishes_the_statistics_with_the_model(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model", seed=1)
    record = _push(tmp_path, model, ["2026-11-27", "2026-11-28"])
    assert record["pushed"] and record["created"] and record["infra_validation"]["checked_by"] == "evaluate"
    entry, stats = registry.served_data_statistics(tmp_path / "serving", MODEL)
    assert entry is not None and entry.version == record["version"] == 1
    assert entry.lineage["data_spans"] == ["2026-11-27", "2026-11-28"] and "data_span" not in entry.lineage
    assert stats == STATS
    assert (Path(entry.path) / COLUMN_STATS_FILE).is_file()
    assert entry.model_digest == registry.model_digest(model) == registry.model_digest(entry.path)


def test_a_source_without_spans_records_none(tmp_path: Path) -> None:
    _push(tmp_path, make_model(tmp_path / "model", seed=1), [])
    entry = registry.latest(tmp_path / "serving", MODEL)
    assert entry is not None and entry.lineage["data_spans"] == [] and entry.data_spans == []


def test_statistics_missing_from_ingests_artifact_fail_the_push_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(registry.RegistryError, match=f"statistics/{COLUMN_STATS_FILE}"):
        _push(tmp_path, make_model(tmp_path / "model", seed=1), ["1"], stats=None)
    assert registry.latest(tmp_path / "serving", MODEL) is None
