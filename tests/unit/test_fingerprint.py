"""Cache keys: data fingerprints follow content, code versions follow each step's own import closure."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest

from beam_jobs.sources import data_fingerprint
from pipelines import fingerprint
from pipelines.fingerprint import module_closure


def _write_data(directory: Path) -> list[Path]:
    directory.mkdir()
    files = [directory / "part-00000.csv", directory / "part-00001.csv"]
    files[0].write_text("a,b\n1,2\n")
    files[1].write_text("a,b\n3,4\n")
    return files


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
