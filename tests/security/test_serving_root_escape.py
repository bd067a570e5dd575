"""Model names and versions cannot escape the serving root: every registry entry point and ``bigtrain models``
refuse ``../x``, absolute paths, ``..`` versions and symlinked model or version directories, with a clear message,
and write nothing outside the serving root."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from components.push import registry
from components.push.registry import RegistryError
from pipelines.cli import main
from tests.unit.test_registry import MODEL, NOW, make_model

ESCAPING_NAMES = ["..", ".", "../x", "../../etc", "/abs", "/tmp/x", "a/b", "ctr/../../x", "x/..", "", "ctr\x00"]
ESCAPING_VERSIONS = ["..", "../1", "/1", "1/../2", "../../etc/passwd", "1/", "./1", "-1", "0", ""]


def _publish(model_dir: Path, serving: Path, name: str = MODEL) -> registry.PublishResult:
    return registry.publish(
        model_dir, serving, name, metrics={"auc": 0.8}, config_hash="c", data_fingerprint="d", code_version="v", now=NOW
    )


@pytest.fixture
def serving(tmp_path: Path) -> Path:
    """A serving root with versions 1 and 2 of MODEL."""
    root = tmp_path / "serving"
    for seed in (1, 2):
        _publish(make_model(tmp_path / f"m{seed}", seed), root)
    return root


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


REGISTRY_CALLS: dict[str, Callable[[Path, str, Path], object]] = {
    "model_path": lambda serving, name, _: registry.model_path(serving, name),
    "served_version": lambda serving, name, _: registry.served_version(serving, name),
    "list_versions": lambda serving, name, _: registry.list_versions(serving, name),
    "latest": lambda serving, name, _: registry.latest(serving, name),
    "publish": lambda serving, name, model: _publish(model, serving, name),
    "rollback": lambda serving, name, _: registry.rollback(serving, name, 1, now=NOW),
}


@pytest.mark.parametrize("call", REGISTRY_CALLS)
@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_every_registry_function_refuses_an_escaping_model_name(
    serving: Path, tmp_path: Path, call: str, name: str
) -> None:
    """The name is checked before any path is built: a RegistryError naming the model_name, nothing written."""
    before = _files(tmp_path)
    with pytest.raises(RegistryError, match=r"^invalid model_name .*: must match"):
        REGISTRY_CALLS[call](serving, name, tmp_path / "m1")
    assert _files(tmp_path) == before


@pytest.mark.parametrize("version", ESCAPING_VERSIONS)
def test_rollback_refuses_an_escaping_version(serving: Path, version: str) -> None:
    """A version is digits only, so it is always one path component under the model dir."""
    before = _files(serving)
    with pytest.raises(RegistryError, match=r"^invalid version .*: must be a positive integer"):
        registry.rollback(serving, MODEL, version, now=NOW)
    assert _files(serving) == before


def test_a_symlinked_version_dir_is_not_rolled_back(serving: Path, tmp_path: Path) -> None:
    """Version 1 replaced by a symlink to a copy outside the serving root: rollback refuses it, naming the dir."""
    outside = tmp_path / "outside-1"
    shutil.copytree(serving / MODEL / "1", outside)
    shutil.rmtree(serving / MODEL / "1")
    (serving / MODEL / "1").symlink_to(outside)
    with pytest.raises(RegistryError, match=r"version dir .*/1' is a symlink"):
        registry.rollback(serving, MODEL, 1, now=NOW)
    assert sorted(p.name for p in (serving / MODEL).iterdir() if p.name.isdigit()) == ["1", "2"]


def test_a_symlinked_model_dir_is_refused(serving: Path, tmp_path: Path) -> None:
    """``<serving_root>/<name>`` linking elsewhere would publish outside the serving root: refused, nothing written."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (serving / "linked").symlink_to(outside)
    for call in REGISTRY_CALLS.values():
        with pytest.raises(RegistryError, match=r"model dir .*linked' is a symlink"):
            call(serving, "linked", tmp_path / "m1")
    assert list(outside.iterdir()) == []


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["models", *args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", ["../x", "/abs", "..", "a/b"])
def test_models_rollback_refuses_an_escaping_name_in_one_line(serving: Path, capsys, name: str) -> None:
    code, err = _cli(capsys, "rollback", "--serving-root", str(serving), "--model", name, "--to", "1")
    assert code == 2
    assert err.startswith("bigtrain: error: --model: invalid model_name") and len(err.splitlines()) == 1


@pytest.mark.parametrize("version", ["..", "../1", "/1", "1/../2"])
def test_models_rollback_refuses_an_escaping_version_in_one_line(serving: Path, capsys, version: str) -> None:
    before = _files(serving)
    code, err = _cli(capsys, "rollback", "--serving-root", str(serving), "--model", MODEL, f"--to={version}")
    assert code == 2
    assert err.startswith(f"bigtrain: error: --to {version}: invalid version") and len(err.splitlines()) == 1
    assert _files(serving) == before


def test_models_rollback_refuses_a_symlinked_version_dir_in_one_line(serving: Path, tmp_path: Path, capsys) -> None:
    outside = tmp_path / "outside-1"
    shutil.copytree(serving / MODEL / "1", outside)
    shutil.rmtree(serving / MODEL / "1")
    (serving / MODEL / "1").symlink_to(outside)
    code, err = _cli(capsys, "rollback", "--serving-root", str(serving), "--model", MODEL, "--to", "1")
    assert code == 2
    assert err.startswith(f"bigtrain: error: version dir {str(serving / MODEL / '1')!r} is a symlink"), err
    assert len(err.splitlines()) == 1


def test_models_commands_refuse_a_symlinked_model_dir_in_one_line(serving: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "elsewhere").mkdir()
    (serving / "linked").symlink_to(tmp_path / "elsewhere")
    for command in (["list"], ["rollback", "--to", "1"]):
        code, err = _cli(capsys, *command, "--serving-root", str(serving), "--model", "linked")
        assert code == 2
        assert err.startswith("bigtrain: error: --model: model dir") and "is a symlink" in err
        assert len(err.splitlines()) == 1
