"""Tests for components.push.registry (fake SavedModels: random bytes in the right file names)."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from beam_jobs.layout import COLUMN_STATS_FILE
from components.push import registry
from components.push.registry import PublishResult, RegistryEntry, RegistryError

MODEL = "ctr"
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def make_model(path: Path, seed: int) -> Path:
    """A directory that looks like a SavedModel: saved_model.pb, fingerprint and two variables files."""
    rng = random.Random(seed)
    (path / "variables").mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(rng.randbytes(256))
    (path / "fingerprint.pb").write_bytes(rng.randbytes(16))
    (path / "variables" / "variables.index").write_bytes(rng.randbytes(64))
    (path / "variables" / "variables.data-00000-of-00001").write_bytes(rng.randbytes(1024))
    return path


def publish(model_dir: Path, root: Path, *, name: str = MODEL, **overrides) -> PublishResult:
    kwargs = {
        "metrics": {"auc": 0.8, "loss": 0.4},
        "config_hash": "cfg123",
        "data_fingerprint": "data456",
        "code_version": "abc1234",
        "now": NOW,
    }
    kwargs.update(overrides)
    return registry.publish(model_dir, root, name, **kwargs)


def visible_names(root: Path, name: str = MODEL) -> list[str]:
    return sorted(p.name for p in (root / name).iterdir())


def read_index(root: Path, name: str = MODEL) -> list[dict]:
    return json.loads((root / name / "registry.json").read_text())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "serving"


@pytest.fixture
def model_a(tmp_path: Path) -> Path:
    return make_model(tmp_path / "model_a", seed=1)


@pytest.fixture
def model_b(tmp_path: Path) -> Path:
    return make_model(tmp_path / "model_b", seed=2)


# ---------------------------------------------------------------------------------------------------------------
# publish / list / latest


def test_first_publish_creates_version_1_with_layout_metadata_and_index(root: Path, model_a: Path) -> None:
    result = publish(model_a, root)

    assert result.created is True
    entry = result.entry
    version_dir = root / MODEL / "1"
    assert entry.version == 1
    assert entry.path == str(version_dir.absolute())
    assert entry.model_digest == registry.model_digest(model_a)
    assert entry.pushed_at == "2024-05-06T07:08:09+00:00"
    assert entry.metrics == {"auc": 0.8, "loss": 0.4}
    assert (entry.config_hash, entry.data_fingerprint, entry.code_version) == ("cfg123", "data456", "abc1234")

    # Model files copied byte for byte, plus the metadata file.
    files = ["saved_model.pb", "fingerprint.pb", "variables/variables.index", "variables/variables.data-00000-of-00001"]
    for rel in files:
        assert (version_dir / rel).read_bytes() == (model_a / rel).read_bytes()
    assert json.loads((version_dir / "bigtrain_version.json").read_text()) == entry.to_dict()
    assert registry.model_digest(version_dir) == entry.model_digest

    # Only the version, the index and the lock are in the model dir: no temp dirs left behind.
    assert visible_names(root) == [".lock", "1", "registry.json"]
    assert read_index(root) == [entry.to_dict()]
    assert registry.list_versions(root, MODEL) == [entry]
    assert registry.latest(root, MODEL) == entry


def test_republishing_identical_model_is_idempotent(root: Path, model_a: Path, tmp_path: Path) -> None:
    first = publish(model_a, root)
    copy = tmp_path / "copy_of_a"
    shutil.copytree(model_a, copy)

    again = publish(copy, root, metrics={"auc": 0.1}, now=NOW + timedelta(days=1))

    assert again.created is False
    assert again.entry == first.entry  # the original entry, not the new metrics/time
    assert [e.version for e in registry.list_versions(root, MODEL)] == [1]
    assert visible_names(root) == [".lock", "1", "registry.json"]


def test_different_model_gets_next_version_and_becomes_latest(root: Path, model_a: Path, model_b: Path) -> None:
    first = publish(model_a, root)
    second = publish(model_b, root, metrics={"auc": 0.9})

    assert second.created is True
    assert second.entry.version == 2
    assert second.entry.model_digest != first.entry.model_digest
    assert registry.list_versions(root, MODEL) == [first.entry, second.entry]
    assert registry.latest(root, MODEL) == second.entry
    assert [e["version"] for e in read_index(root)] == [1, 2]


def test_latest_and_list_on_unknown_model_are_empty_and_create_nothing(root: Path) -> None:
    assert registry.latest(root, MODEL) is None
    assert registry.list_versions(root, MODEL) == []
    assert not root.exists()


def test_models_are_versioned_independently(root: Path, model_a: Path, model_b: Path) -> None:
    publish(model_a, root, name="ctr")
    other = publish(model_b, root, name="ranker.v2")
    assert other.entry.version == 1
    assert (root / "ranker.v2" / "1" / "saved_model.pb").is_file()


def test_failure_midway_leaves_nothing_visible(root: Path, model_a: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_copy = registry._copy_file
    copied: list[str] = []

    def copy_one_then_fail(src: str, dst: str) -> str:
        if copied:
            raise RuntimeError("disk full (simulated)")
        copied.append(dst)
        return real_copy(src, dst)

    monkeypatch.setattr(registry, "_copy_file", copy_one_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        publish(model_a, root)

    assert len(copied) == 1  # it really failed midway, after a file was written into the temp dir
    assert visible_names(root) == [".lock"]  # no version, no temp dir, no index
    assert registry.list_versions(root, MODEL) == []

    monkeypatch.setattr(registry, "_copy_file", real_copy)
    assert publish(model_a, root).entry.version == 1
    assert [e["version"] for e in read_index(root)] == [1]


def test_failure_in_rename_cleans_up_and_reraises(root: Path, model_a: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_rename(src: str, dst: str) -> None:
        raise PermissionError("read-only (simulated)")

    monkeypatch.setattr(registry.os, "rename", broken_rename)
    with pytest.raises(RegistryError, match="read-only"):
        publish(model_a, root)
    assert visible_names(root) == [".lock"]


def test_rename_target_taken_concurrently_takes_next_version(
    root: Path, model_a: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rename = os.rename
    calls: list[str] = []

    def rename_after_someone_else(src: str, dst: str) -> None:
        calls.append(Path(dst).name)
        if len(calls) == 1:  # a pusher that bypassed the lock wins version 1 right before us
            (Path(dst) / "variables").mkdir(parents=True)
        real_rename(src, dst)

    monkeypatch.setattr(registry.os, "rename", rename_after_someone_else)
    result = publish(model_a, root)

    assert calls == ["1", "2"]
    assert result.entry.version == 2
    metadata = json.loads((root / MODEL / "2" / "bigtrain_version.json").read_text())
    assert metadata["version"] == 2
    assert metadata["path"].endswith(f"{MODEL}/2")
    assert not [n for n in visible_names(root) if n.startswith(".publish-")]


def test_empty_target_dir_created_concurrently_is_not_replaced(
    root: Path, model_a: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_stage = registry._stage_model

    def stage_then_someone_creates_1(src: Path, tmp_dir: Path, statistics: Path | None) -> None:
        real_stage(src, tmp_dir, statistics)
        (root / MODEL / "1").mkdir()  # os.rename would silently replace an empty dir

    monkeypatch.setattr(registry, "_stage_model", stage_then_someone_creates_1)
    assert publish(model_a, root).entry.version == 2
    assert list((root / MODEL / "1").iterdir()) == []


# ---------------------------------------------------------------------------------------------------------------
# Reconciliation of the index with the version directories


def test_stray_temp_and_non_integer_dirs_are_ignored(root: Path, model_a: Path) -> None:
    model_root = root / MODEL
    shutil.copytree(model_a, model_root / ".tmp")
    shutil.copytree(model_a, model_root / "7-partial")
    (model_root / "7-partial" / "bigtrain_version.json").write_text(
        json.dumps({**_entry_dict(7), "path": str(model_root / "7-partial")})
    )

    assert registry.list_versions(root, MODEL) == []
    assert registry.latest(root, MODEL) is None
    # The model in the stray dirs does not count as published either.
    assert publish(model_a, root).entry.version == 1
    assert [e.version for e in registry.list_versions(root, MODEL)] == [1]


def test_temp_dir_of_a_killed_publisher_is_removed_by_the_next_publish(root: Path, model_a: Path) -> None:
    dead = root / MODEL / ".publish-killed"
    shutil.copytree(model_a, dead)

    assert registry.list_versions(root, MODEL) == []
    assert publish(model_a, root).entry.version == 1
    assert not dead.exists()


def test_integer_dir_without_metadata_is_not_listed_and_not_reused(root: Path, model_a: Path) -> None:
    shutil.copytree(model_a, root / MODEL / "3")  # e.g. copied in by hand; TF Serving would serve it

    assert registry.list_versions(root, MODEL) == []
    assert publish(model_a, root).entry.version == 4


def test_copied_version_dir_with_mismatched_metadata_is_ignored(root: Path, model_a: Path) -> None:
    e1 = publish(model_a, root).entry
    shutil.copytree(root / MODEL / "1", root / MODEL / "5")  # metadata inside still says version 1

    assert registry.list_versions(root, MODEL) == [e1]


def test_deleted_index_is_rebuilt_from_dirs(root: Path, model_a: Path, model_b: Path) -> None:
    e1 = publish(model_a, root).entry
    e2 = publish(model_b, root).entry
    (root / MODEL / "registry.json").unlink()

    assert registry.list_versions(root, MODEL) == [e1, e2]
    assert read_index(root) == [e1.to_dict(), e2.to_dict()]


def test_corrupt_index_is_rebuilt_from_dirs(root: Path, model_a: Path) -> None:
    e1 = publish(model_a, root).entry
    (root / MODEL / "registry.json").write_text("{not json")

    assert registry.list_versions(root, MODEL) == [e1]
    assert read_index(root) == [e1.to_dict()]


def test_index_entry_whose_dir_was_deleted_disappears(root: Path, model_a: Path, model_b: Path) -> None:
    e1 = publish(model_a, root).entry
    publish(model_b, root)
    shutil.rmtree(root / MODEL / "2")

    assert registry.list_versions(root, MODEL) == [e1]
    assert registry.latest(root, MODEL) == e1
    assert read_index(root) == [e1.to_dict()]


def test_version_dir_missing_from_index_is_listed(root: Path, model_a: Path, model_b: Path) -> None:
    e1 = publish(model_a, root).entry
    e2 = publish(model_b, root).entry
    (root / MODEL / "registry.json").write_text(json.dumps([e1.to_dict()]))  # e.g. crash before index write

    assert registry.list_versions(root, MODEL) == [e1, e2]
    assert read_index(root) == [e1.to_dict(), e2.to_dict()]


def test_dir_metadata_wins_over_a_disagreeing_index(root: Path, model_a: Path) -> None:
    e1 = publish(model_a, root).entry
    (root / MODEL / "registry.json").write_text(json.dumps([{**e1.to_dict(), "metrics": {"auc": 0.0}}]))

    assert registry.list_versions(root, MODEL) == [e1]


def test_moved_serving_root_reports_actual_paths(root: Path, model_a: Path, tmp_path: Path) -> None:
    publish(model_a, root)
    moved = tmp_path / "mounted_elsewhere"
    shutil.move(root, moved)

    entry = registry.latest(moved, MODEL)
    assert entry is not None
    assert entry.path == str((moved / MODEL / "1").absolute())
    assert read_index(moved)[0]["path"] == entry.path


# ---------------------------------------------------------------------------------------------------------------
# Concurrency


def _publish_in_child(model_dir: str, root: str, barrier, results) -> None:
    barrier.wait(timeout=60)
    result = publish(Path(model_dir), Path(root))
    results.put((model_dir, result.entry.version, result.created))


def test_concurrent_publishers_get_distinct_versions(root: Path, tmp_path: Path) -> None:
    n = 4
    models = [make_model(tmp_path / f"m{i}", seed=100 + i) for i in range(n)]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    procs = [ctx.Process(target=_publish_in_child, args=(str(m), str(root), barrier, results)) for m in models]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    assert sorted(version for _, version, _ in outcomes) == [1, 2, 3, 4]
    assert all(created for _, _, created in outcomes)
    # Each version holds the model that was told it got that version.
    for model_dir, version, _ in outcomes:
        assert registry.model_digest(root / MODEL / str(version)) == registry.model_digest(model_dir)
    assert [e["version"] for e in read_index(root)] == [1, 2, 3, 4]
    assert [e.version for e in registry.list_versions(root, MODEL)] == [1, 2, 3, 4]
    assert not [n for n in visible_names(root) if n.startswith(".publish-")]


def test_concurrent_publishers_of_the_same_model_create_one_version(root: Path, model_a: Path) -> None:
    n = 4
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    procs = [ctx.Process(target=_publish_in_child, args=(str(model_a), str(root), barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    assert sorted(created for _, _, created in outcomes) == [False, False, False, True]
    assert {version for _, version, _ in outcomes} == {1}
    assert [e.version for e in registry.list_versions(root, MODEL)] == [1]


# ---------------------------------------------------------------------------------------------------------------
# Validation and errors


@pytest.mark.parametrize("name", ["", ".hidden", "-x", "a/b", "../escape", "with space", "ctr\n", "ünï"])
def test_bad_model_name_is_rejected(root: Path, model_a: Path, name: str) -> None:
    with pytest.raises(RegistryError, match="invalid model_name"):
        publish(model_a, root, name=name)
    with pytest.raises(RegistryError, match="invalid model_name"):
        registry.list_versions(root, name)
    assert not root.exists()


def test_missing_model_dir_is_rejected(root: Path, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="does not exist or is not a directory"):
        publish(tmp_path / "nope", root)
    assert not root.exists()


def test_dir_without_saved_model_pb_is_rejected(root: Path, tmp_path: Path) -> None:
    not_a_model = tmp_path / "not_a_model"
    (not_a_model / "variables").mkdir(parents=True)
    with pytest.raises(RegistryError, match=r"not a SavedModel: no saved_model\.pb"):
        publish(not_a_model, root)


def test_registry_error_is_a_value_error() -> None:
    assert issubclass(RegistryError, ValueError)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "high"])
def test_bad_metric_values_are_rejected(root: Path, model_a: Path, bad: object) -> None:
    with pytest.raises(RegistryError, match="metric 'auc'"):
        publish(model_a, root, metrics={"auc": bad})
    assert registry.list_versions(root, MODEL) == []


def test_pushed_at_is_utc_and_naive_now_is_rejected(root: Path, model_a: Path, model_b: Path) -> None:
    plus_two = timezone(timedelta(hours=2))
    entry = publish(model_a, root, now=datetime(2024, 1, 1, 12, 0, tzinfo=plus_two)).entry
    assert entry.pushed_at == "2024-01-01T10:00:00+00:00"
    with pytest.raises(RegistryError, match="timezone-aware"):
        publish(model_b, root, now=datetime(2024, 1, 1, 12, 0))

    default_now = publish(model_b, root, now=None).entry
    assert datetime.fromisoformat(default_now.pushed_at).utcoffset() == timedelta(0)


# ---------------------------------------------------------------------------------------------------------------
# Digest and entry serialization


def test_model_digest_depends_on_paths_and_bytes_only(model_a: Path, tmp_path: Path) -> None:
    digest = registry.model_digest(model_a)
    assert len(digest) == 64

    copy = tmp_path / "copy"
    shutil.copytree(model_a, copy)
    os.utime(copy / "saved_model.pb", (0, 0))
    assert registry.model_digest(copy) == digest

    (copy / "bigtrain_version.json").write_text("{}")  # our own metadata does not count
    assert registry.model_digest(copy) == digest

    (copy / "variables" / "variables.index").rename(copy / "variables" / "variables.idx")
    assert registry.model_digest(copy) != digest

    changed = tmp_path / "changed"
    shutil.copytree(model_a, changed)
    data = changed / "variables" / "variables.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:-1] + b"\x00")
    assert registry.model_digest(changed) != digest


def test_model_digest_is_not_fooled_by_moving_bytes_between_name_and_content(tmp_path: Path) -> None:
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "ab").write_bytes(b"c")
    (b / "a").write_bytes(b"bc")
    assert registry.model_digest(a) != registry.model_digest(b)


def _entry_dict(version: int = 3) -> dict:
    return {
        "version": version,
        "path": f"/models/ctr/{version}",
        "model_digest": "d" * 64,
        "pushed_at": "2024-05-06T07:08:09+00:00",
        "metrics": {"auc": 0.75},
        "config_hash": "c",
        "data_fingerprint": "f",
        "code_version": "v",
    }


def test_entry_round_trips_through_json() -> None:
    entry = RegistryEntry.from_dict(_entry_dict())
    assert RegistryEntry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry
    assert entry.to_dict() == _entry_dict()


@pytest.mark.parametrize(
    "patch",
    [{"version": "3"}, {"version": True}, {"metrics": {"auc": "x"}}, {"metrics": [1]}],
)
def test_malformed_entry_raises_registry_error(patch: dict) -> None:
    with pytest.raises(RegistryError, match="malformed registry entry"):
        RegistryEntry.from_dict({**_entry_dict(), **patch})
    incomplete = _entry_dict()
    del incomplete["code_version"]
    with pytest.raises(RegistryError, match="code_version"):
        RegistryEntry.from_dict(incomplete)


# ---------------------------------------------------------------------------------------------------------------
# Rollback


def test_rollback_publishes_the_old_files_as_a_new_newest_version(root: Path, model_a: Path, model_b: Path) -> None:
    e1 = publish(model_a, root).entry
    e2 = publish(model_b, root, metrics={"auc": 0.9}).entry
    later = NOW + timedelta(days=3)

    entry = registry.rollback(root, MODEL, 1, now=later)

    assert entry.version == 3
    assert entry.rollback_of == 1
    assert entry.path == str((root / MODEL / "3").absolute())
    assert entry.pushed_at == later.isoformat()
    assert entry.model_digest == e1.model_digest == registry.model_digest(root / MODEL / "3")
    assert (entry.metrics, entry.config_hash, entry.data_fingerprint, entry.code_version) == (
        e1.metrics,
        e1.config_hash,
        e1.data_fingerprint,
        e1.code_version,
    )
    # Nothing deleted; the rollback is the latest (what TF Serving serves and resolve-baseline picks).
    assert registry.list_versions(root, MODEL) == [e1, e2, entry]
    assert registry.latest(root, MODEL) == entry
    assert read_index(root)[-1]["rollback_of"] == 1
    assert json.loads((root / MODEL / "3" / "bigtrain_version.json").read_text())["rollback_of"] == 1
    assert visible_names(root) == [".lock", "1", "2", "3", "registry.json"]


def test_rollback_accepts_a_digit_string_and_a_rollback_of_a_rollback(root: Path, model_a: Path, model_b: Path) -> None:
    publish(model_a, root)
    publish(model_b, root)
    assert registry.rollback(root, MODEL, "1", now=NOW).version == 3
    fourth = registry.rollback(root, MODEL, "2", now=NOW)
    assert (fourth.version, fourth.rollback_of) == (4, 2)
    assert registry.model_digest(root / MODEL / "4") == registry.model_digest(model_b)


def test_publishing_after_a_rollback_still_takes_the_next_version(root: Path, model_a: Path, model_b: Path) -> None:
    publish(model_a, root)
    publish(model_b, root)
    registry.rollback(root, MODEL, 1, now=NOW)
    third = publish(make_model(root.parent / "model_c", seed=3), root)
    assert (third.entry.version, third.entry.rollback_of) == (4, None)


def test_rollback_refuses_unknown_and_current_versions(root: Path, model_a: Path, model_b: Path) -> None:
    publish(model_a, root)
    publish(model_b, root)
    with pytest.raises(registry.UnknownVersionError, match=r"no version 7 \(versions: 1, 2\)"):
        registry.rollback(root, MODEL, 7)
    with pytest.raises(RegistryError, match="already the newest"):
        registry.rollback(root, MODEL, 2)
    with pytest.raises(RegistryError, match="no model 'other'"):
        registry.rollback(root, "other", 1)
    assert visible_names(root) == [".lock", "1", "2", "registry.json"]
    assert not (root / "other").exists()


def test_rollback_refuses_an_incomplete_version_dir(root: Path, model_a: Path, model_b: Path) -> None:
    publish(model_a, root)
    publish(model_b, root)
    shutil.copytree(model_a, root / MODEL / "5")  # no metadata: not a version the registry knows
    with pytest.raises(registry.UnknownVersionError, match="no version 5"):
        registry.rollback(root, MODEL, 5)
    # TF Serving serves dir 5, so version 1 is not "current" and a rollback to it lands above 5.
    assert registry.served_version(root, MODEL) == 5
    assert registry.rollback(root, MODEL, 1).version == 6


def test_rollback_refuses_a_version_whose_files_changed(root: Path, model_a: Path, model_b: Path) -> None:
    publish(model_a, root)
    publish(model_b, root)
    (root / MODEL / "1" / "saved_model.pb").write_bytes(b"tampered")
    with pytest.raises(RegistryError, match="no longer match its recorded digest"):
        registry.rollback(root, MODEL, 1)
    assert visible_names(root) == [".lock", "1", "2", "registry.json"]


def test_rollback_failure_midway_leaves_nothing_visible(
    root: Path, model_a: Path, model_b: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    e1 = publish(model_a, root).entry
    e2 = publish(model_b, root).entry
    index_before = read_index(root)
    real_copy = registry._copy_file
    copied: list[str] = []

    def copy_one_then_fail(src: str, dst: str) -> str:
        if copied:
            raise RuntimeError("disk full (simulated)")
        copied.append(dst)
        return real_copy(src, dst)

    monkeypatch.setattr(registry, "_copy_file", copy_one_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        registry.rollback(root, MODEL, 1)

    assert len(copied) == 1  # it failed after a file was written into the temp dir
    assert visible_names(root) == [".lock", "1", "2", "registry.json"]  # no version 3, no temp dir
    assert read_index(root) == index_before
    assert registry.list_versions(root, MODEL) == [e1, e2]

    monkeypatch.setattr(registry, "_copy_file", real_copy)
    assert registry.rollback(root, MODEL, 1).version == 3


@pytest.mark.parametrize("bad", ["../1", "/1", "1/../2", "-1", "0", "+1", "1 ", "", "0x1", "1" * 19, 0, -3, True, 1.0])
def test_rollback_refuses_a_version_that_is_not_a_plain_positive_integer(
    root: Path, model_a: Path, model_b: Path, bad: object
) -> None:
    publish(model_a, root)
    publish(model_b, root)
    with pytest.raises(RegistryError, match="invalid version"):
        registry.rollback(root, MODEL, bad)  # type: ignore[arg-type]
    assert visible_names(root) == [".lock", "1", "2", "registry.json"]


@pytest.mark.parametrize("name", ["..", ".", "/abs", "/tmp/x", "../ctr", "ctr/1", "ctr/../../x"])
def test_model_names_that_would_leave_the_serving_root_are_refused(root: Path, model_a: Path, name: str) -> None:
    publish(model_a, root)
    for call in (
        lambda: publish(model_a, root, name=name),
        lambda: registry.list_versions(root, name),
        lambda: registry.rollback(root, name, 1),
        lambda: registry.model_path(root, name),
    ):
        with pytest.raises(RegistryError, match="invalid model_name"):
            call()
    assert sorted(p.name for p in root.iterdir()) == [MODEL]


# ---------------------------------------------------------------------------------------------------------------
# Symlinks in a model dir


def test_symlink_pointing_outside_the_model_dir_is_refused(root: Path, model_a: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not a model file")
    (model_a / "variables" / "leak").symlink_to(secret)
    with pytest.raises(RegistryError, match=r"symlink 'variables/leak' pointing outside it"):
        publish(model_a, root)
    assert not (root / MODEL).exists() or registry.list_versions(root, MODEL) == []


def test_relative_symlink_escaping_the_model_dir_is_refused(root: Path, model_a: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (model_a / "assets").symlink_to(Path("..") / "elsewhere")  # a directory link
    with pytest.raises(RegistryError, match="symlink 'assets' pointing outside it"):
        publish(model_a, root)


def test_dangling_and_looping_symlinks_are_refused(root: Path, model_a: Path) -> None:
    (model_a / "gone").symlink_to(model_a / "missing")
    with pytest.raises(RegistryError, match="dangling symlink 'gone'"):
        publish(model_a, root)
    (model_a / "gone").unlink()
    (model_a / "variables" / "up").symlink_to("..")
    with pytest.raises(RegistryError, match="symlink loop 'variables/up'"):
        publish(model_a, root)


def test_symlink_inside_the_model_dir_is_published_as_a_file(root: Path, model_a: Path) -> None:
    (model_a / "variables" / "alias.index").symlink_to("variables.index")
    entry = publish(model_a, root).entry
    copied = root / MODEL / "1" / "variables" / "alias.index"
    assert not copied.is_symlink()
    assert copied.read_bytes() == (model_a / "variables" / "variables.index").read_bytes()
    assert entry.model_digest == registry.model_digest(model_a)


def test_rollback_refuses_a_version_dir_with_an_escaping_symlink(
    root: Path, model_a: Path, model_b: Path, tmp_path: Path
) -> None:
    publish(model_a, root)
    publish(model_b, root)
    (tmp_path / "outside").write_text("x")
    (root / MODEL / "1" / "planted").symlink_to(tmp_path / "outside")
    with pytest.raises(RegistryError, match="pointing outside it"):
        registry.rollback(root, MODEL, 1)
    assert visible_names(root) == [".lock", "1", "2", "registry.json"]


# ---------------------------------------------------------------------------------------------------------------
# File modes: the serving side (often another user) must read the registry


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_registry_files_are_world_readable(root: Path, model_a: Path, model_b: Path) -> None:
    model_a.chmod(0o755)
    model_b.chmod(0o755)
    publish(model_a, root)
    publish(model_b, root)
    registry.rollback(root, MODEL, 1)
    assert _mode(root / MODEL / "registry.json") == 0o644
    for version in ("1", "2", "3"):
        assert _mode(root / MODEL / version / "bigtrain_version.json") == 0o644
        assert _mode(root / MODEL / version) == 0o755
        assert _mode(root / MODEL / version / "saved_model.pb") & 0o044 == 0o044


# ---------------------------------------------------------------------------------------------------------------
# Backward compatibility of entries


def test_entries_written_before_rollbacks_existed_still_load_and_keep_their_format(root: Path, model_a: Path) -> None:
    old = _entry_dict()
    assert "rollback_of" not in old
    entry = RegistryEntry.from_dict(old)
    assert entry.rollback_of is None
    assert entry.to_dict() == old  # no new key for normal entries: old readers and old indexes stay valid

    # An old version dir on disk is listed, and its (old-format) index is not rewritten.
    e1 = publish(model_a, root).entry
    index = root / MODEL / "registry.json"
    before = index.stat().st_mtime_ns
    assert "rollback_of" not in index.read_text()
    assert registry.list_versions(root, MODEL) == [e1]
    assert index.stat().st_mtime_ns == before


def test_rollback_entry_round_trips_and_unknown_keys_are_ignored() -> None:
    entry = RegistryEntry.from_dict({**_entry_dict(), "rollback_of": 1, "added_later": "x"})
    assert entry.rollback_of == 1
    assert RegistryEntry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry


@pytest.mark.parametrize("bad", ["1", True, 1.5, [1]])
def test_malformed_rollback_of_raises_registry_error(bad: object) -> None:
    with pytest.raises(RegistryError, match="rollback_of"):
        RegistryEntry.from_dict({**_entry_dict(), "rollback_of": bad})


def test_pushing_a_model_identical_to_a_rolled_back_version_reports_the_newest_copy(
    root: Path, model_a: Path, model_b: Path
) -> None:
    publish(model_a, root)
    publish(model_b, root)
    registry.rollback(root, MODEL, 1)
    again = publish(model_a, root)
    assert (again.created, again.entry.version, again.entry.rollback_of) == (False, 3, 1)
    assert [e.version for e in registry.list_versions(root, MODEL)] == [1, 2, 3]


def test_lineage_is_recorded_and_entries_without_it_still_load(root: Path, model_a: Path) -> None:
    lineage = {"run": "bigtrain-demo-20261129", "evaluated_split": "test", "baseline_version": 3, "data_span": 7}
    entry = publish(model_a, root, lineage=lineage).entry
    assert entry.lineage == lineage
    stored = json.loads((root / MODEL / "1" / registry.METADATA_FILE).read_text())
    assert stored["lineage"] == lineage
    assert registry.RegistryEntry.from_dict(stored) == entry
    old = {k: v for k, v in stored.items() if k != "lineage"}
    assert registry.RegistryEntry.from_dict(old).lineage == {}
    assert "lineage" not in registry.RegistryEntry.from_dict(old).to_dict()


# ---------------------------------------------------------------------------------------------------------------
# Data spans in the lineage, and the data statistics published with the model

STATS_A = {"train": {"age": {"count": 70, "mean": 41.5}}}
STATS_B = {"train": {"age": {"count": 90, "mean": 38.0}}}


def column_stats(path: Path, stats: dict) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / COLUMN_STATS_FILE).write_text(json.dumps(stats))
    return path / COLUMN_STATS_FILE


def test_data_spans_are_recorded_and_old_entries_with_one_span_still_read(root: Path, model_a: Path) -> None:
    lineage = {"run": "r", "baseline_version": None, "data_spans": ["2026-11-27", "2026-11-28"]}
    entry = publish(model_a, root, lineage=lineage).entry
    stored = json.loads((root / MODEL / "1" / registry.METADATA_FILE).read_text())
    assert stored["lineage"]["data_spans"] == ["2026-11-27", "2026-11-28"]
    assert registry.latest(root, MODEL) == entry and entry.data_spans == ["2026-11-27", "2026-11-28"]
    assert registry.RegistryEntry.from_dict({**stored, "lineage": {"data_spans": []}}).data_spans == []
    # Written before spans could be chosen: one span number, or none.
    assert registry.RegistryEntry.from_dict({**stored, "lineage": {"data_span": 7}}).data_spans == ["7"]
    assert registry.RegistryEntry.from_dict({**stored, "lineage": {"data_span": None}}).data_spans == []
    assert registry.RegistryEntry.from_dict({k: v for k, v in stored.items() if k != "lineage"}).data_spans == []


def test_data_statistics_are_published_beside_the_model_without_changing_its_digest(
    root: Path, model_a: Path, tmp_path: Path
) -> None:
    assert registry.served_data_statistics(root, MODEL) == (None, None)
    entry = publish(model_a, root, data_statistics=column_stats(tmp_path / "ingest", STATS_A)).entry
    published = root / MODEL / "1" / COLUMN_STATS_FILE
    assert json.loads(published.read_text()) == STATS_A
    assert stat.S_IMODE(published.stat().st_mode) == registry.JSON_MODE
    assert entry.model_digest == registry.model_digest(model_a) == registry.model_digest(root / MODEL / "1")
    assert registry.served_data_statistics(root, MODEL) == (entry, STATS_A)
    # The same model again, with other statistics: still the same model, nothing new is published.
    again = publish(model_a, root, data_statistics=column_stats(tmp_path / "later", STATS_B))
    assert not again.created and json.loads(published.read_text()) == STATS_A


def test_a_version_pushed_without_statistics_has_none(root: Path, model_a: Path) -> None:
    entry = publish(model_a, root).entry
    assert not (root / MODEL / "1" / COLUMN_STATS_FILE).exists()
    assert registry.served_data_statistics(root, MODEL) == (entry, None)


def test_a_stray_statistics_file_in_the_model_dir_is_neither_model_nor_statistics(root: Path, model_a: Path) -> None:
    digest = registry.model_digest(model_a)
    column_stats(model_a, STATS_B)
    assert registry.model_digest(model_a) == digest
    publish(model_a, root)
    assert not (root / MODEL / "1" / COLUMN_STATS_FILE).exists()


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"])
def test_missing_or_broken_statistics_are_refused_before_anything_is_written(
    root: Path, model_a: Path, tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "ingest" / COLUMN_STATS_FILE
    if content is not None:
        path.parent.mkdir()
        path.write_text(content)
    with pytest.raises(RegistryError, match=r"data statistics .*column_stats\.json"):
        publish(model_a, root, data_statistics=path)
    assert not (root / MODEL).exists()


def test_unreadable_served_statistics_name_the_file(root: Path, model_a: Path, tmp_path: Path) -> None:
    publish(model_a, root, data_statistics=column_stats(tmp_path / "ingest", STATS_A))
    (root / MODEL / "1" / COLUMN_STATS_FILE).write_text("{truncated")
    with pytest.raises(RegistryError, match=r"1/column_stats\.json' unreadable"):
        registry.served_data_statistics(root, MODEL)


def test_a_rollback_republishes_the_old_versions_statistics(
    root: Path, model_a: Path, model_b: Path, tmp_path: Path
) -> None:
    publish(model_a, root, data_statistics=column_stats(tmp_path / "a", STATS_A))
    publish(model_b, root, data_statistics=column_stats(tmp_path / "b", STATS_B))
    assert registry.served_data_statistics(root, MODEL)[1] == STATS_B
    back = registry.rollback(root, MODEL, 1)
    assert (back.version, back.model_digest) == (3, registry.model_digest(model_a))
    assert registry.served_data_statistics(root, MODEL) == (back, STATS_A)


def test_a_rollback_to_a_version_without_statistics_serves_none(
    root: Path, model_a: Path, model_b: Path, tmp_path: Path
) -> None:
    publish(model_a, root)
    publish(model_b, root, data_statistics=column_stats(tmp_path / "b", STATS_B))
    back = registry.rollback(root, MODEL, 1)
    assert registry.served_data_statistics(root, MODEL) == (back, None)
