"""Disk full and permission denied on the serving root (the registry) and on the pipeline root (`bigtrain run`).

Running as root, chmod denies nothing, so the registry faults are injected at the write call (an OSError with the
errno the kernel would give); one case fills a real small tmpfs where this process may mount one. The pipeline root
is made unwritable for root too: a path under a regular file.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from components.push import registry
from components.push.registry import INDEX_FILE, TEMP_PREFIX, RegistryError
from pipelines import cli
from pipelines.demo_data import write_demo_data
from tests.conftest import DEMO_CONFIG
from tests.fault.tmpfs import mounted_tmpfs

MODEL = "ctr"
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
EACCES = PermissionError(errno.EACCES, os.strerror(errno.EACCES))


def _model(path: Path, seed: int, size: int = 1024) -> Path:
    (path / "variables").mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(bytes([seed]) * 64)
    (path / "variables" / "variables.data-00000-of-00001").write_bytes(bytes([seed]) * size)
    return path


def _publish(model: Path, serving: Path) -> registry.PublishResult:
    return registry.publish(
        model, serving, MODEL, metrics={"auc": 0.8}, config_hash="c", data_fingerprint="d", code_version="v"
    )


def _raising(error: OSError) -> Callable[..., object]:
    """A stand-in for a write call that fails as the kernel would: ``error``'s errno, naming its last argument."""

    def fail(*args: object, **kwargs: object) -> object:
        raise OSError(error.errno, error.strerror, str(args[-1]) if args else None)

    return fail


def _assert_registry_intact(serving: Path, versions: list[int]) -> None:
    """Only complete versions, no temp dir, and an index that lists exactly the version directories."""
    model_root = serving / MODEL
    names = sorted(p.name for p in model_root.iterdir())
    assert not [n for n in names if n.startswith(TEMP_PREFIX) or n.endswith(".tmp")], names
    assert sorted(int(n) for n in names if n.isdigit()) == versions
    assert [e.version for e in registry.list_versions(serving, MODEL)] == versions
    assert [e["version"] for e in json.loads((model_root / INDEX_FILE).read_text())] == versions


@pytest.fixture
def serving(tmp_path: Path) -> Path:
    """A serving root with version 1 already published."""
    serving = tmp_path / "serving"
    _publish(_model(tmp_path / "m1", 1), serving)
    return serving


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("_copy_file", ENOSPC),  # disk fills while the model's files are copied
        ("os.rename", EACCES),  # the version can't be renamed into place
        ("tempfile.mkdtemp", EACCES),  # the temp dir can't even be made
        ("tempfile.mkstemp", ENOSPC),  # bigtrain_version.json can't be written
    ],
)
def test_publish_write_fault_is_one_error_naming_the_path_and_leaves_no_partial_version(
    serving: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, error: OSError
) -> None:
    owner, _, name = target.rpartition(".")
    monkeypatch.setattr(getattr(registry, owner) if owner else registry, name, _raising(error))
    with pytest.raises(RegistryError, match=f"cannot publish to {serving / MODEL}: {error.strerror}") as raised:
        _publish(_model(tmp_path / "m2", 2), serving)
    assert "\n" not in str(raised.value)
    monkeypatch.undo()
    _assert_registry_intact(serving, [1])
    assert _publish(_model(tmp_path / "m3", 3), serving).entry.version == 2  # nothing stale in the way


def test_serving_root_that_cannot_be_created_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(tmp_path / "m", 1)
    monkeypatch.setattr(registry.Path, "mkdir", _raising(EACCES))
    with pytest.raises(RegistryError, match=f"cannot publish to {tmp_path / 'serving' / MODEL}: Permission denied"):
        _publish(model, tmp_path / "serving")
    monkeypatch.undo()
    assert not (tmp_path / "serving").exists()


def test_rollback_on_a_full_disk_is_named_and_leaves_no_partial_version(
    serving: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish(_model(tmp_path / "m2", 2), serving)
    monkeypatch.setattr(registry, "_copy_file", _raising(ENOSPC))
    with pytest.raises(RegistryError, match=f"cannot publish to {serving / MODEL}: No space left on device"):
        registry.rollback(serving, MODEL, 1)
    monkeypatch.undo()
    _assert_registry_intact(serving, [1, 2])
    assert registry.rollback(serving, MODEL, 1).version == 3


def test_index_write_failure_after_the_rename_still_publishes(
    serving: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The version dir is complete once renamed; the index is only a cache of the dirs, repaired on the next read.
    monkeypatch.setattr(registry, "_sync_index", _raising(ENOSPC))
    assert _publish(_model(tmp_path / "m2", 2), serving).entry.version == 2
    monkeypatch.undo()
    _assert_registry_intact(serving, [1, 2])


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, or a skip where this process may not mount one."""
    with mounted_tmpfs(tmp_path / "tmpfs", "256k") as point:
        yield point


def test_real_full_disk_under_the_serving_root(small_tmpfs: Path, tmp_path: Path) -> None:
    _publish(_model(tmp_path / "small", 1, size=16 * 1024), small_tmpfs)
    with pytest.raises(RegistryError, match=f"cannot publish to {small_tmpfs / MODEL}: No space left on device"):
        _publish(_model(tmp_path / "big", 2, size=512 * 1024), small_tmpfs)
    _assert_registry_intact(small_tmpfs, [1])


@pytest.fixture
def run_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo config on 600 demo rows, in a working directory of its own."""
    monkeypatch.chdir(tmp_path)
    write_demo_data(tmp_path / "data" / "demo", rows=600, seed=7)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(yaml.safe_load(DEMO_CONFIG.read_text())))
    return config


def test_run_with_a_pipeline_root_under_a_file_exits_2_naming_it(
    run_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the pipeline root's parent should be\n")
    code = cli.main(["run", "--config", str(run_config), "--pipeline-root", str(blocker / "runs")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"bigtrain: error: cannot write to pipeline root {blocker / 'runs'}: Not a directory"), err


def test_run_on_a_full_pipeline_root_exits_2_naming_it(
    run_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(Path, "mkdir", _raising(ENOSPC))
    code = cli.main(["run", "--config", str(run_config), "--pipeline-root", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"cannot write to pipeline root {tmp_path / 'runs'}: No space left on device" in err, err
