"""Hyperparameter search: the config's space, Optuna's suggestions (prefix-stable per sampler), and the winner."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.train.result import TrainingResult
from components.train.settings import ModelSettings, TrainingSettings
from components.tune.select import (
    NoWinner,
    choose_winner,
    lineage,
    lineage_of,
    make_table,
    read_table,
    read_trials,
    summary_trials,
    write_table,
)
from components.tune.space import TuningSettings
from components.tune.suggest import suggest
from pipelines.config import ConfigError, parse_config
from pipelines.summary import build_summary, format_summary
from tests.conftest import DEMO_CONFIG

MODEL = ModelSettings().model_dump(mode="json")
TRAINING = TrainingSettings().model_dump(mode="json")
SPACE = {
    "training.learning_rate": {"log_uniform": [0.0005, 0.02]},
    "model.hidden_units": {"choice": [[32], [64, 32]]},
    "model.dropout": {"uniform": [0.0, 0.3]},
    "training.batch_size": {"int_uniform": [32, 512]},
}
GRID = {"model.hidden_units": {"choice": [[32], [64, 32], [16]]}, "training.batch_size": {"choice": [64, 256]}}


def _tuning(**fields: Any) -> TuningSettings:
    return TuningSettings.model_validate({"trials": 5, "seed": 7, "space": SPACE, **fields})


def _suggested(**fields: Any) -> list[dict[str, Any]]:
    return [trial.overrides for trial in suggest(_tuning(**fields), MODEL, TRAINING)]


@pytest.mark.parametrize(("sampler", "space"), [("random", SPACE), ("qmc", SPACE), ("grid", GRID)])
def test_suggestions_are_prefix_stable(sampler: str, space: dict):
    """Adding a trial keeps the earlier ones: they come from the KFP cache."""
    fewer = _suggested(sampler=sampler, space=space, trials=3)
    more = _suggested(sampler=sampler, space=space, trials=4)
    assert more[:3] == fewer and len(more) == 4
    assert _suggested(sampler=sampler, space=space, trials=4) == more  # same seed, same trials
    if sampler != "grid":
        assert _suggested(sampler=sampler, space=space, trials=4, seed=8) != more


def test_yaml_order_does_not_change_the_trials():
    reordered = dict(reversed(list(SPACE.items())))
    assert _suggested(space=reordered) == _suggested()


def test_grid_covers_the_grid():
    trials = _suggested(sampler="grid", space=GRID, trials=6)
    pairs = {(json.dumps(t["model.hidden_units"]), t["training.batch_size"]) for t in trials}
    units, sizes = GRID["model.hidden_units"]["choice"], GRID["training.batch_size"]["choice"]
    assert pairs == {(json.dumps(u), b) for u, b in itertools.product(units, sizes)}


@pytest.mark.parametrize("sampler", ["random", "qmc"])
def test_values_stay_within_bounds_and_settings_are_full(sampler: str):
    trials = suggest(_tuning(sampler=sampler, trials=16), MODEL, TRAINING)
    for trial in trials:
        values = trial.overrides
        assert 0.0005 <= values["training.learning_rate"] <= 0.02
        assert 0.0 <= values["model.dropout"] <= 0.3
        assert isinstance(values["training.batch_size"], int) and 32 <= values["training.batch_size"] <= 512
        assert values["model.hidden_units"] in ([32], [64, 32])
        # Full settings: the base with the overrides applied, accepted by the train step's models.
        assert ModelSettings.model_validate(trial.model_settings).dropout == values["model.dropout"]
        training = TrainingSettings.model_validate(trial.training_settings)
        assert training.learning_rate == values["training.learning_rate"] and training.epochs == TRAINING["epochs"]
    rates = sorted(t.overrides["training.learning_rate"] for t in trials)
    assert rates[0] < 0.002 and rates[-1] > 0.008  # log-uniform spreads over the decades


def _config(tuning: dict[str, Any]) -> dict[str, Any]:
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["tuning"] = tuning
    return config


@pytest.mark.parametrize(
    ("tuning", "message"),
    [
        ({"space": {"model.dropout": {"uniform": [0.0, 1.0]}}}, "tuning.space.model.dropout: 1.0: "),
        ({"space": {"training.learning_rate": {"log_uniform": [0.0, 0.1]}}}, "tuning.space.training.learning_rate"),
        ({"space": {"model.hidden_units": {"choice": [[32], [0]]}}}, "tuning.space.model.hidden_units: [0]: "),
        ({"space": {"training.batch_size": {"uniform": [16, 64]}}}, "tuning.space.training.batch_size: uniform"),
        ({"space": {"training.workers": {"choice": [1, 2]}}}, "tuning.space.training.workers: not tunable"),
        ({"space": {"model.width": {"choice": [1, 2]}}}, "tuning.space.model.width: not tunable"),
        ({"space": {"model.dropout": {"normal": [0, 1]}}}, "tuning.space.model.dropout: unknown distribution"),
        ({"space": {"model.dropout": {"uniform": [0.3, 0.1]}}}, "tuning.space.model.dropout: uniform: low"),
        ({"sampler": "grid"}, "tuning.space.model.dropout: the grid sampler needs {choice: [...]}"),
        ({"sampler": "grid", "trials": 7, "space": GRID}, "tuning: trials 7 is above the grid's 6 points"),
        ({"sampler": "tpe"}, "tuning.sampler: tpe learns from finished trials"),
        ({"parallelism": 9}, "tuning: parallelism 9 is above trials 4"),
        ({"trials": 65}, "tuning.trials: "),
    ],
)
def test_invalid_space_fails_at_load_naming_the_key(tuning: dict[str, Any], message: str):
    section = {"trials": 4, "space": {"model.dropout": {"uniform": [0.0, 0.3]}}, **tuning}
    with pytest.raises(ConfigError) as raised:
        parse_config(_config(section), "run.yaml")
    assert f"run.yaml: {message}" in str(raised.value)


def test_a_valid_tuning_section_loads():
    config = parse_config(_config({"trials": 2, "sampler": "qmc", "space": SPACE}), "run.yaml")
    assert config.tuning is not None and config.tuning.trials == 2 and config.tuning.parallelism == 1
    assert parse_config(_config(None) | {"tuning": None}, "run.yaml").tuning is None


# ---- select ----------------------------------------------------------------------------------------


def _logs(tmp_path: Path, index: int, auc: float | None, run: str = "run-b") -> tuple[str, str]:
    """A trial's training logs under <tmp>/<run>/for-loop-1-iteration-<i>/train/training_logs (no result: None)."""
    directory = tmp_path / run / f"for-loop-1-iteration-{index}" / "train" / "training_logs"
    directory.mkdir(parents=True)
    if auc is not None:
        TrainingResult(
            epochs_run=2,
            best_epoch=1,
            best_eval_auc=auc,
            final_eval_loss=0.5,
            train_examples_per_epoch=100,
            seconds=3.25,
            workers=1,
            chief=True,
            resumed_from_epoch=0,
            warm_started=False,
            warm_start_note="",
        ).write(str(directory))
    return str(directory), str(directory)


def _results(tmp_path: Path, aucs: list[float | None], runs: list[str] | None = None):
    runs = runs or ["run-b"] * len(aucs)
    trials = [
        {
            "index": float(i),  # as KFP hands numbers over
            "overrides": {"model.dropout": 0.1 * i},
            "model_settings": {**MODEL, "dropout": 0.1 * i, "hidden_units": [32.0]},
            "training_settings": {**TRAINING, "batch_size": 64.0},
        }
        for i in range(len(aucs))
    ]
    dirs = [_logs(tmp_path, i, auc, run) for i, (auc, run) in enumerate(zip(aucs, runs, strict=True))]
    return read_trials(trials, [d for d, _ in dirs], [u for _, u in dirs])


def test_the_best_validation_auc_wins(tmp_path: Path):
    assert choose_winner(_results(tmp_path, [0.71, 0.78, 0.74])) == 1


def test_a_tie_goes_to_the_lower_index(tmp_path: Path):
    assert choose_winner(_results(tmp_path, [0.70, 0.78, 0.78])) == 1


def test_a_trial_without_auc_is_reported_never_chosen(tmp_path: Path):
    results = _results(tmp_path, [None, math.nan, 0.61])
    assert choose_winner(results) == 2
    assert results[0].validation_auc is None and "no result.json" in results[0].problem
    assert results[1].validation_auc is None and "nan" in results[1].problem
    table = make_table(results, 2)
    assert table["winner"] == 2 and [t["validation_auc"] for t in table["trials"]] == [None, None, 0.61]
    json.dumps(table, allow_nan=False)  # the table is strict JSON


def test_all_trials_failed_is_a_clear_error(tmp_path: Path):
    with pytest.raises(NoWinner, match=r"no trial of the search produced a validation AUC \(trial 0: no result"):
        choose_winner(_results(tmp_path, [None, None]))


def test_mismatched_outputs_are_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="2 trials but 1 training logs"):
        read_trials([{"index": 0}, {"index": 1}], ["a"], ["a"])


def test_cached_is_whether_the_trial_ran_in_this_run(tmp_path: Path):
    """Trials trained by an earlier run (their artifacts in its directory) are cached in this one."""
    results = _results(tmp_path, [0.7, 0.8, 0.6], runs=["run-a", "run-a", "run-b"])
    table = make_table(results, 1)
    write_table(table, str(tmp_path / "select"))
    read = read_table(str(tmp_path / "select"))
    facts = summary_trials(read, str(tmp_path / "run-b"))
    assert [t["cached"] for t in facts["trials"]] == [True, True, False] and facts["winner"] == 1
    assert [t["cached"] for t in summary_trials(read, str(tmp_path / "run-c"))["trials"]] == [True, True, True]
    assert summary_trials(read_table(str(tmp_path / "nothing")), "x") == {"trials": None, "winner": None}
    assert set(facts["trials"][0]) == {"index", "settings", "validation_auc", "epochs", "seconds", "cached", "problem"}


def test_lineage_survives_kfp_metadata_numbers():
    values = lineage(2, {"training.learning_rate": 0.001, "model.hidden_units": [64, 32]})
    assert values == {
        "tuning_trial": 2,
        "tuning_settings": ["model.hidden_units=[64, 32]", "training.learning_rate=0.001"],
    }
    as_metadata = {**values, "tuning_trial": 2.0, "framework": "tensorflow"}  # KFP metadata numbers are floats
    assert lineage_of(as_metadata) == values and lineage_of({"framework": "tensorflow"}) == {}


def test_printed_summary_shows_the_trials(tmp_path: Path):
    results = _results(tmp_path, [0.7, None], runs=["run-a", "run-b"])
    facts = summary_trials(make_table(results, 0), str(tmp_path / "run-b"))
    summary = build_summary("r1", "/runs/r1", "/runs/r1/bigtrain.log", {}, facts, 12.0)
    text = format_summary(summary)
    assert "search    2 trials; winner trial 0" in text
    assert "*trial 0  auc 0.700  2 ep  cached  dropout=0" in text
    assert "trial 1  no auc: no result.json in its logs" in text
    assert "search" not in format_summary(build_summary("r1", "/runs/r1", "/log", {}, {}, 1.0))
