"""A hyperparameter search through the real local runner on tiny data: 3 trials, the best by validation AUC is
evaluated and pushed; the same search with a 4th trial trains only that one (the other three come from the cache)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.push.registry import model_digest
from tests.cli_runs import bigtrain
from tests.conftest import DEMO_CONFIG

pytestmark = pytest.mark.slow
SPACE = {
    "training.learning_rate": {"log_uniform": [0.0005, 0.05]},
    "model.hidden_units": {"choice": [[8], [16, 8]]},
}


def _trial_models(run_root: Path, pipeline: str) -> dict[str, Path]:
    """Every trial model kfp.local wrote under the pipeline root, by the directory of its run and loop iteration."""
    return {
        str(path.parent.parent.relative_to(run_root)): path
        for path in run_root.glob(f"{pipeline}-*/for-loop-*-iteration-*/train/model")
    }


@pytest.fixture(scope="module")
def searches(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    work = tmp_path_factory.mktemp("tuning")
    made = bigtrain("demo-data", "--rows", "1200", "--output", "data/demo", "--seed", "5", cwd=work)
    assert made.returncode == 0, made.stderr
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config.pop("cluster", None)
    config["name"] = "tiny-search"
    config["push"]["model_name"] = "tiny-search"
    config["evaluation"] = {"slices": [], "thresholds": {"auc": {"min": 0.5}}}
    config["training"].update(epochs=2, batch_size=64, early_stopping_patience=1)
    summaries = []
    for trials in (3, 4):
        config["tuning"] = {"trials": trials, "parallelism": 2, "sampler": "random", "seed": 3, "space": SPACE}
        (work / "search.yaml").write_text(yaml.safe_dump(config))
        result = bigtrain("run", "--config", "search.yaml", "--summary", f"summary{trials}.json", cwd=work)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        summaries.append(json.loads((work / f"summary{trials}.json").read_text()))
    return work, summaries


def test_the_trial_with_the_best_validation_auc_is_pushed(searches):
    work, (first, _) = searches
    assert first["ok"], first["error"]
    trials = first["trials"]
    assert [trial["index"] for trial in trials] == [0, 1, 2]
    assert all(trial["cached"] is False and trial["epochs"] >= 1 and trial["seconds"] > 0 for trial in trials)
    assert len({json.dumps(trial["settings"], sort_keys=True) for trial in trials}) == 3
    aucs = [trial["validation_auc"] for trial in trials]
    assert all(0.0 <= auc <= 1.0 for auc in aucs)
    assert first["winner"] == aucs.index(max(aucs))
    assert first["validation_auc"] == max(aucs)  # the winner's training result is the run's
    assert first["pushed"]["version"] == 1
    published = work / "serving" / "tiny-search" / "1"
    entry = json.loads((published / "bigtrain_version.json").read_text())
    assert entry["lineage"]["tuning_trial"] == first["winner"]
    winner_settings = trials[first["winner"]]["settings"]
    assert entry["lineage"]["tuning_settings"] == [f"{k}={json.dumps(v)}" for k, v in sorted(winner_settings.items())]
    # The published bytes are the winning trial's model.
    models = _trial_models(work / "runs", "bigtrain-tiny-search")
    winner_dirs = [path for key, path in models.items() if key.endswith(f"iteration-{first['winner']}")]
    assert winner_dirs and model_digest(str(winner_dirs[0])) == model_digest(str(published))
    report = Path(first["report"]).read_text()
    assert 'id="trials-table"' in report and report.count("<tr") > 3


def test_a_fourth_trial_trains_only_that_trial(searches):
    _, (first, second) = searches
    assert second["ok"], second["error"]
    trials = second["trials"]
    # Prefix-stable suggestions: the first three trials are the first search's, and come from the cache.
    assert [trial["settings"] for trial in trials[:3]] == [trial["settings"] for trial in first["trials"]]
    assert [trial["cached"] for trial in trials] == [True, True, True, False]
    assert [trial["validation_auc"] for trial in trials[:3]] == [trial["validation_auc"] for trial in first["trials"]]
    log = Path(second["log"]).read_text()
    assert log.count("Executing task 'train'") == 1
    aucs = [trial["validation_auc"] for trial in trials]
    assert second["winner"] == aucs.index(max(aucs))
