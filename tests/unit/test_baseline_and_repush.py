"""The unchanged-rerun path: the served model is not its own baseline, and re-pushing it validates nothing again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from components.evaluate.analysis import NOT_BLESSED_MARKER
from components.push import pusher, registry
from components.push.baseline import choose_baseline
from tests.unit.test_registry import MODEL, make_model, publish


def test_no_published_version_means_no_baseline(tmp_path: Path) -> None:
    baseline = choose_baseline(str(tmp_path / "serving"), MODEL, str(make_model(tmp_path / "m", seed=1)))
    assert (baseline.path, baseline.version, baseline.served_version, baseline.candidate_is_served) == ("", 0, 0, False)


def test_a_different_candidate_is_compared_with_the_served_version(tmp_path: Path) -> None:
    root = tmp_path / "serving"
    served = publish(make_model(tmp_path / "a", seed=1), root).entry
    baseline = choose_baseline(str(root), MODEL, str(make_model(tmp_path / "b", seed=2)))
    assert (baseline.path, baseline.version, baseline.served_version) == (served.path, 1, 1)
    assert not baseline.candidate_is_served


def test_the_served_model_itself_gets_no_baseline_so_its_first_evaluation_is_reused(tmp_path: Path) -> None:
    root = tmp_path / "serving"
    model = make_model(tmp_path / "a", seed=1)
    publish(model, root)
    baseline = choose_baseline(str(root), MODEL, str(model))
    # Same (empty) baseline path as when it was first evaluated: the evaluate step's cache key matches that run.
    assert (baseline.path, baseline.version, baseline.served_version) == ("", 0, 1)
    assert baseline.candidate_is_served


def test_the_served_model_gets_the_baseline_it_was_pushed_against_so_that_evaluation_is_reused(tmp_path: Path) -> None:
    root = tmp_path / "serving"
    first = publish(make_model(tmp_path / "a", seed=1), root).entry
    second = make_model(tmp_path / "b", seed=2)
    publish(second, root, lineage={"baseline_version": 1})
    baseline = choose_baseline(str(root), MODEL, str(second))
    # The evaluate step's inputs of the run that blessed version 2: its cached evaluation is the one that counts.
    assert (baseline.path, baseline.version, baseline.served_version) == (first.path, 1, 2)
    assert baseline.candidate_is_served


def test_a_rolled_back_served_model_is_not_compared_with_anything(tmp_path: Path) -> None:
    root = tmp_path / "serving"
    first = make_model(tmp_path / "a", seed=1)
    publish(first, root)
    publish(make_model(tmp_path / "b", seed=2), root, lineage={"baseline_version": 1})
    registry.rollback(root, MODEL, 1)
    baseline = choose_baseline(str(root), MODEL, str(first))
    assert (baseline.path, baseline.version, baseline.served_version, baseline.candidate_is_served) == ("", 0, 3, True)


def test_an_identical_older_version_is_still_a_candidate_against_the_newer_served_one(tmp_path: Path) -> None:
    root = tmp_path / "serving"
    old = make_model(tmp_path / "a", seed=1)
    publish(old, root)
    newer = publish(make_model(tmp_path / "b", seed=2), root).entry
    baseline = choose_baseline(str(root), MODEL, str(old))
    assert (baseline.path, baseline.served_version) == (newer.path, 2)


def push_model(model: Path, blessing: Path, root: Path, tmp_path: Path, examples_pattern: str = "") -> dict:
    """push_if_blessed with an AUC-only evaluation summary; no examples unless ``examples_pattern`` is given."""
    summary = tmp_path / "summary.json"
    summary.write_text('{"overall": {"auc": 0.8}}')
    return pusher.push_if_blessed(
        model_dir=str(model),
        blessing_dir=str(blessing),
        evaluation_summary=str(summary),
        examples_pattern=examples_pattern or str(tmp_path / "none" / "*.gz"),
        serving_root=str(root),
        model_name=MODEL,
        config_hash="c",
        code_version="v",
        data_fingerprint="d",
    )


def test_repushing_the_served_model_skips_the_serving_check_and_imports_no_tensorflow(
    tmp_path: Path, blessed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "serving"
    model = make_model(tmp_path / "a", seed=1)
    publish(model, root)
    monkeypatch.delitem(sys.modules, "components.push.infra_validate", raising=False)
    monkeypatch.setattr(pusher, "sample_examples", lambda *a, **k: pytest.fail("serving check must not run"))
    outcome = push_model(model, blessed, root, tmp_path)
    assert outcome["pushed"] and not outcome["created"]
    assert outcome["version"] == 1 and "serving check skipped" in outcome["reason"]
    assert "components.push.infra_validate" not in sys.modules
    assert sorted(p.name for p in (root / MODEL).iterdir() if p.name.isdigit()) == ["1"]


def test_a_new_model_is_still_checked_before_publishing(tmp_path: Path, blessed: Path) -> None:
    root = tmp_path / "serving"
    publish(make_model(tmp_path / "a", seed=1), root)
    # No examples to check serving with: a new model is refused, never published unchecked.
    outcome = push_model(make_model(tmp_path / "b", seed=2), blessed, root, tmp_path)
    assert not outcome["pushed"] and outcome["reason"] == "no examples to validate serving with"


def test_an_unblessed_served_model_is_not_repushed(tmp_path: Path) -> None:
    root = tmp_path / "serving"
    model = make_model(tmp_path / "a", seed=1)
    publish(model, root)
    blessing = tmp_path / "blessing"
    blessing.mkdir()
    (blessing / NOT_BLESSED_MARKER).touch()
    assert push_model(model, blessing, root, tmp_path)["reason"] == "model not blessed"
