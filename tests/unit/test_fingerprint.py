"""Cache keys: data fingerprints follow content, code versions follow each step's own import closure."""

from __future__ import annotations

import hashlib
import inspect
import os
from pathlib import Path

import pytest

from beam_jobs.sources import SpanSelection, resolve_source
from pipelines import fingerprint
from pipelines.fingerprint import module_closure


def _write_data(directory: Path) -> list[Path]:
    directory.mkdir()
    files = [directory / "part-00000.csv", directory / "part-00001.csv"]
    files[0].write_text("a,b\n1,2\n")
    files[1].write_text("a,b\n3,4\n")
    return files


def data_fingerprint(source: str, spans: SpanSelection = "latest") -> str:
    return resolve_source(source, spans).fingerprint


def test_data_fingerprint_follows_content_not_mtime(tmp_path: Path):
    files = _write_data(tmp_path / "data")
    pattern = str(tmp_path / "data" / "*.csv")
    before = data_fingerprint(pattern)
    assert data_fingerprint(pattern) == before  # deterministic

    stat = files[1].stat()
    os.utime(files[1], (stat.st_atime + 3600, stat.st_mtime + 3600))
    assert data_fingerprint(pattern) == before  # touched, not changed

    files[1].write_text("a,b\n3,5\n")  # same size, one byte differs
    changed = data_fingerprint(pattern)
    assert changed != before

    files[1].write_text("a,b\n3,4\n")
    assert data_fingerprint(pattern) == before  # back to the same bytes, back to the same key


def test_data_fingerprint_sees_added_and_renamed_files(tmp_path: Path):
    files = _write_data(tmp_path / "data")
    pattern = str(tmp_path / "data" / "*.csv")
    before = data_fingerprint(pattern)
    (tmp_path / "data" / "part-00002.csv").write_text("a,b\n")
    with_new = data_fingerprint(pattern)
    assert with_new != before
    (tmp_path / "data" / "part-00002.csv").unlink()
    files[1].rename(tmp_path / "data" / "part-00009.csv")
    assert data_fingerprint(pattern) not in (before, with_new)


def test_data_fingerprint_fails_on_an_empty_glob(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"no files match"):
        data_fingerprint(str(tmp_path / "nothing-*.csv"))


def _spans(root: Path, *names: str) -> str:
    """Spans holding identical bytes under identical file names: only the span names tell them apart."""
    for name in names:
        _write_data(root / f"span-{name}")
    return str(root / "span-{SPAN}" / "*.csv")


@pytest.mark.parametrize("spans", ["latest", 2])
def test_a_new_span_changes_the_fingerprint_nothing_new_does_not(tmp_path: Path, spans: SpanSelection):
    source = _spans(tmp_path, "2026-11-26", "2026-11-27")
    before = data_fingerprint(source, spans)
    assert data_fingerprint(source, spans) == before  # the next scheduled run, nothing arrived: cached
    _spans(tmp_path, "2026-11-28")
    after = data_fingerprint(source, spans)
    assert after != before  # a new span arrived, with the same file names and bytes as the others
    assert data_fingerprint(source, spans) == after


def test_a_listed_selection_ignores_new_spans_and_changes_with_the_list(tmp_path: Path):
    source = _spans(tmp_path, "1", "2", "3")
    listed = data_fingerprint(source, ["1", "2"])
    _spans(tmp_path, "4")
    assert data_fingerprint(source, ["1", "2"]) == listed
    assert data_fingerprint(source, ["2", "1"]) == listed  # the same spans in another order are the same data
    assert data_fingerprint(source, ["1", "3"]) != listed
    assert data_fingerprint(source, 2) != data_fingerprint(source, 3)


def test_a_span_changes_the_fingerprint_when_its_content_changes(tmp_path: Path):
    source = _spans(tmp_path, "1", "2")
    before = data_fingerprint(source, 2)
    (tmp_path / "span-1" / "part-00000.csv").write_text("a,b\n9,9\n")  # the older span of the window
    assert data_fingerprint(source, 2) != before


def test_a_source_without_spans_keeps_the_fingerprint_it_had_before_spans(tmp_path: Path):
    _write_data(tmp_path / "data")
    digest = hashlib.sha256()
    for path in sorted((tmp_path / "data").glob("*.csv")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    assert data_fingerprint(str(tmp_path / "data" / "*.csv")) == digest.hexdigest()[:16]


def test_train_closure_has_its_library_code_and_nothing_else():
    from components.train.component import train

    closure = module_closure(inspect.getsource(train))
    assert "components.train.trainer" in closure
    assert "beam_jobs.transform" in closure  # reached through the trainer, not imported by the component
    assert {"components.train.model", "components.train.export", "components.train.dataset"} <= set(closure)
    assert "components.push.registry" not in closure
    assert not any(name.startswith(("components.evaluate", "components.push", "beam_jobs.ingest")) for name in closure)
    assert closure["components.train.trainer"].read_text().startswith('"""Training:')
    assert all(path.is_file() for path in closure.values())


def test_step_code_versions_one_distinct_hash_per_versioned_step():
    from pipelines.dag import VERSIONED_STEPS, code_parameter, step_code_versions

    versions = step_code_versions()
    assert set(versions) == {code_parameter(step) for step in VERSIONED_STEPS}
    assert all(len(v) == 16 and int(v, 16) >= 0 for v in versions.values())
    assert len(set(versions.values())) == len(VERSIONED_STEPS)
    assert step_code_versions() == versions  # stable


def _redirect(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str) -> None:
    """Make ``module``'s source appear edited (a copy with one more line) without touching the repo."""
    original = fingerprint._project_file(module)
    assert original is not None
    edited = tmp_path / f"{module}.py"
    edited.write_text(original.read_text() + "\n# an edit\n")
    real = fingerprint._project_file
    monkeypatch.setattr(fingerprint, "_project_file", lambda name: edited if name == module else real(name))


def test_edit_in_a_train_only_module_changes_only_train(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from pipelines.dag import step_code_versions

    before = step_code_versions()
    _redirect(monkeypatch, tmp_path, "components.train.model")
    after = step_code_versions()
    assert [k for k in before if before[k] != after[k]] == ["train_code"]


def test_edit_in_a_shared_module_changes_every_step_that_imports_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from pipelines.dag import step_code_versions

    before = step_code_versions()
    _redirect(monkeypatch, tmp_path, "beam_jobs.contract")
    after = step_code_versions()
    assert sorted(k for k in before if before[k] != after[k]) == ["ingest_code", "preprocess_code", "train_code"]
