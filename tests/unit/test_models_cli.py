"""``bigtrain models list`` and ``bigtrain models rollback``, driven through ``pipelines.cli.main``."""

from __future__ import annotations

import errno
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from components.push import registry
from pipelines.cli import main
from tests.unit.test_registry import MODEL, NOW, make_model


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A registry with versions 1..3 of MODEL (test AUC 0.80, 0.81, 0.82); version 1 records its span the way entries
    did before spans could be chosen, version 2 two dated spans, version 3 none."""
    serving = tmp_path / "serving"
    lineages = [{"data_span": 7}, {"data_spans": ["2026-11-27", "2026-11-28"]}, {"data_spans": []}]
    for i in range(3):
        registry.publish(
            make_model(tmp_path / f"m{i}", seed=i),
            serving,
            MODEL,
            metrics={"auc": 0.80 + i / 100, "loss": 0.4},
            config_hash=f"cfg{i}" * 16,
            data_fingerprint=f"data{i}" * 16,
            code_version=f"code{i}" * 10,
            now=NOW + timedelta(days=i),
            lineage=lineages[i],
        )
    return serving


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["models", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_version_with_its_facts_and_marks_the_current_one(root: Path, capsys) -> None:
    code, out, err = run(capsys, "list", "--serving-root", str(root), "--model", MODEL)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert " ".join(lines[0].split()) == "VERSION PUSHED (UTC) TEST AUC BLESSING DATA SPANS CODE CONFIG CURRENT"
    rows = [line.split() for line in lines[1:]]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert " ".join(rows[0]) == "1 2024-05-06 07:08:09 0.800 blessed data0data0da 7 code0code0co cfg0cfg0cfg0"
    assert " 2026-11-27, 2026-11-28 " in lines[2] and rows[2][6] == "-"
    assert rows[2][-1] == "*" and all(r[-1] != "*" for r in rows[:2])  # TF Serving serves the highest number
    assert rows[2][3] == "0.820"


def test_list_json_has_full_hashes_and_the_current_version(root: Path, capsys) -> None:
    code, out, _ = run(capsys, "list", "--serving-root", str(root), "--model", MODEL, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["model"] == MODEL and data["current"] == 3
    assert [v["version"] for v in data["versions"]] == [1, 2, 3]
    first = data["versions"][0]
    assert first["data_fingerprint"] == "data0" * 16 and first["config_hash"] == "cfg0" * 16
    assert first["code_version"] == "code0" * 10
    assert (first["test_auc"], first["blessing"], first["rollback_of"]) == (0.8, "blessed", None)
    assert [v["data_spans"] for v in data["versions"]] == [["7"], ["2026-11-27", "2026-11-28"], []]
    assert first["current"] is False
    assert first["model_digest"] == registry.model_digest(root / MODEL / "1")
    assert data["versions"][2]["current"] is True


def test_rollback_creates_the_next_version_with_version_ks_files(root: Path, capsys) -> None:
    code, out, err = run(capsys, "rollback", "--serving-root", str(root), "--model", MODEL, "--to", "1")
    assert code == 0, err
    new_dir = root / MODEL / "4"
    assert out.splitlines() == [
        f"bigtrain: rolled back {MODEL} to version 1: now serving version 4",
        f"bigtrain: {new_dir.absolute()}",
    ]
    assert registry.model_digest(new_dir) == registry.model_digest(root / MODEL / "1")
    assert sorted(p.name for p in (root / MODEL).iterdir() if not p.name.startswith(".")) == [
        "1",
        "2",
        "3",
        "4",
        "registry.json",
    ]  # nothing deleted
    index = json.loads((root / MODEL / "registry.json").read_text())
    assert index[-1]["version"] == 4 and index[-1]["rollback_of"] == 1
    assert "rollback_of" not in index[0]

    code, out, _ = run(capsys, "list", "--serving-root", str(root), "--model", MODEL)
    rows = [line.split() for line in out.strip().splitlines()[1:]]
    assert rows[3][0] == "4" and rows[3][4:7] == ["rollback", "of", "1"] and rows[3][-1] == "*"
    assert rows[3][3] == "0.800"  # version 1's test AUC
    assert rows[2][-1] != "*"


def test_rollback_of_an_unknown_version_is_one_line_and_exit_2(root: Path, capsys) -> None:
    code, out, err = run(capsys, "rollback", "--serving-root", str(root), "--model", MODEL, "--to", "9")
    assert code == 2 and out == ""
    assert err == "bigtrain: error: --to 9: model 'ctr' has no version 9 (versions: 1, 2, 3)\n"
    assert not (root / MODEL / "4").exists()


def test_rollback_to_the_current_version_is_refused(root: Path, capsys) -> None:
    code, _, err = run(capsys, "rollback", "--serving-root", str(root), "--model", MODEL, "--to", "3")
    assert code == 2 and "already the newest (served) version" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("bad", ["../1", "/etc", "1/../2", "-1", "0", "one"])
def test_rollback_refuses_a_version_that_is_not_a_number(root: Path, capsys, bad: str) -> None:
    code, _, err = run(capsys, "rollback", "--serving-root", str(root), "--model", MODEL, f"--to={bad}")
    assert code == 2
    assert err.startswith(f"bigtrain: error: --to {bad}: invalid version") and len(err.splitlines()) == 1
    assert not (root / MODEL / "4").exists()


@pytest.mark.parametrize("command", [["list"], ["rollback", "--to", "1"]])
@pytest.mark.parametrize("name", ["../ctr", "/abs", "ctr/1", ".."])
def test_model_names_that_escape_the_serving_root_exit_2_naming_the_flag(
    root: Path, capsys, command: list[str], name: str
) -> None:
    code, _, err = run(capsys, *command, "--serving-root", str(root), "--model", name)
    assert code == 2
    assert err.startswith("bigtrain: error: --model: invalid model_name") and len(err.splitlines()) == 1


@pytest.mark.parametrize("command", [["list"], ["list", "--json"], ["rollback", "--to", "1"]])
def test_missing_model_or_serving_root_exits_2_naming_the_flag(root: Path, tmp_path: Path, capsys, command) -> None:
    code, out, err = run(capsys, *command, "--serving-root", str(root), "--model", "nope")
    assert (code, out) == (2, "")
    assert err.startswith("bigtrain: error: --model: no model 'nope' under --serving-root")
    assert len(err.splitlines()) == 1
    assert not (root / "nope").exists()

    code, _, err = run(capsys, *command, "--serving-root", str(tmp_path / "absent"), "--model", MODEL)
    assert code == 2 and err.startswith("bigtrain: error: --serving-root: no such directory") and err.count("\n") == 1


def test_rollback_failing_midway_leaves_no_new_version(root: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_copy = registry._copy_file

    def copy_one_then_fail(src: str, dst: str) -> str:
        if calls:
            raise OSError("disk full (simulated)")
        calls.append(dst)
        return real_copy(src, dst)

    monkeypatch.setattr(registry, "_copy_file", copy_one_then_fail)
    assert main(["models", "rollback", "--serving-root", str(root), "--model", MODEL, "--to", "1"]) == 2
    err = capsys.readouterr().err
    assert "cannot publish to" in err and "disk full" in err and "Traceback" not in err
    assert sorted(p.name for p in (root / MODEL).iterdir()) == [".lock", "1", "2", "3", "registry.json"]
    assert registry.latest(root, MODEL).version == 3


def test_list_of_a_model_dir_without_versions(tmp_path: Path, capsys) -> None:
    (tmp_path / "serving" / MODEL).mkdir(parents=True)
    code, out, _ = run(capsys, "list", "--serving-root", str(tmp_path / "serving"), "--model", MODEL)
    assert code == 0 and out.startswith("bigtrain: no versions of ctr")
    code, out, _ = run(capsys, "list", "--serving-root", str(tmp_path / "serving"), "--model", MODEL, "--json")
    assert json.loads(out) == {"model": MODEL, "current": None, "versions": []}


def test_list_warns_when_tf_serving_serves_an_unlisted_dir(root: Path, capsys) -> None:
    make_model(root / MODEL / "7", seed=9)  # no bigtrain metadata, but TF Serving would serve it
    code, out, err = run(capsys, "list", "--serving-root", str(root), "--model", MODEL, "--json")
    assert code == 0 and json.loads(out)["current"] is None
    assert "directory 7 has no readable bigtrain_version.json; TF Serving serves it" in err


@pytest.mark.parametrize(
    ("target", "error"),
    [("_copy_file", errno.ENOSPC), ("tempfile.mkdtemp", errno.EACCES), ("tempfile.mkstemp", errno.EROFS)],
)
def test_rollback_write_fault_names_the_registry_not_the_version(
    root: Path, capsys, monkeypatch: pytest.MonkeyPatch, target: str, error: int
) -> None:
    def fail(*args: object, **kwargs: object) -> object:
        raise OSError(error, os.strerror(error), str(args[-1] if args else kwargs["dir"]))

    owner, _, name = target.rpartition(".")
    monkeypatch.setattr(getattr(registry, owner) if owner else registry, name, fail)
    code, out, err = run(capsys, "rollback", "--serving-root", str(root), "--model", MODEL, "--to", "1")
    assert (code, out) == (2, "")
    assert err.startswith(f"bigtrain: error: cannot publish to {root / MODEL}: {os.strerror(error)}")
    assert len(err.splitlines()) == 1
    monkeypatch.undo()
    assert [e.version for e in registry.list_versions(root, MODEL)] == [1, 2, 3]


def test_rollback_to_a_version_with_corrupt_metadata_names_the_file_not_the_version(root: Path, capsys) -> None:
    metadata = root / MODEL / "1" / registry.METADATA_FILE
    metadata.write_text("{not json")
    code, _, err = run(capsys, "rollback", "--serving-root", str(root), "--model", MODEL, "--to", "1")
    assert code == 2
    assert err == f"bigtrain: error: version 1 of 'ctr': {metadata} is unreadable or invalid; cannot roll back to it\n"
    assert not (root / MODEL / "4").exists()


def test_rollback_past_a_corrupt_index_still_works_and_repairs_it(root: Path, capsys) -> None:
    index = root / MODEL / registry.INDEX_FILE
    index.write_text("[{truncated")
    code, out, err = run(capsys, "rollback", "--serving-root", str(root), "--model", MODEL, "--to", "2")
    assert code == 0, err
    assert out.startswith(f"bigtrain: rolled back {MODEL} to version 2: now serving version 4")
    assert [e["version"] for e in json.loads(index.read_text())] == [1, 2, 3, 4]
