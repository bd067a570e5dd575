"""The winner of a search: the trial with the best validation AUC (the eval split; the test split is never read).

A trial that produced no AUC is reported, never chosen; ties go to the lower index.

``cached`` in the trials table says whether a trial's train task came from the KFP cache. The train task cannot
know; a trial ran in a given run exactly when its output artifact lies in that run's directory (KFP lays a run out
as ``<run dir>/<task>/<output>``, a loop's tasks one level deeper), so its artifact URI is recorded and compared with
the run directory of a task known to run in that run (select itself, and again the never-cached summarize step).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from typing import Any

from beam_jobs.layout import TRIALS_FILE
from components.train.result import RESULT_FILE, TrainingResult
from components.tune.space import typed_values


class NoWinner(RuntimeError):
    """No trial of the search produced a validation AUC."""


@dataclass(frozen=True)
class TrialResult:
    """One trial as the trials table shows it."""

    index: int
    settings: dict[str, Any]  # the tuned settings' values
    validation_auc: float | None
    epochs: int | None
    seconds: float | None
    artifact: str  # the trial's training_logs URI: which run trained it
    cached: bool | None = None
    problem: str | None = None  # why there is no AUC


def run_dir_of(uri: str) -> str:
    """The run directory of a top-level task's output ``<run dir>/<task>/<output>``."""
    return uri.rstrip("/").rsplit("/", 2)[0]


def ran_in(artifact: str, run_dir: str) -> bool:
    """True when ``artifact`` was written by a task of the run whose directory is ``run_dir``."""
    return artifact.startswith(run_dir.rstrip("/") + "/")


def read_trial(index: int, settings: dict[str, Any], logs_dir: str, artifact: str) -> TrialResult:
    """A trial's result from its training logs (``result.json``); no AUC when it is missing or not a number."""
    if not os.path.isfile(os.path.join(logs_dir, RESULT_FILE)):
        return TrialResult(index, settings, None, None, None, artifact, problem=f"no {RESULT_FILE} in its logs")
    result = TrainingResult.read(logs_dir)
    auc = result.best_eval_auc
    problem = None
    if auc is None or not math.isfinite(auc):
        auc, problem = None, f"validation AUC is {result.best_eval_auc}"
    return TrialResult(index, settings, auc, result.epochs_run, round(result.seconds, 2), artifact, problem=problem)


def read_trials(trials: list[dict[str, Any]], logs_dirs: list[str], artifacts: list[str]) -> list[TrialResult]:
    """Every trial's result, in trial order (``trials``: suggest's list; the logs in the same order)."""
    if not len(trials) == len(logs_dirs) == len(artifacts):
        raise ValueError(f"{len(trials)} trials but {len(logs_dirs)} training logs: the search's outputs do not match")
    return [
        read_trial(
            int(trial["index"]),  # KFP parameter numbers are floats
            typed_values(sorted(trial["overrides"]), trial["model_settings"], trial["training_settings"]),
            logs,
            artifact,
        )
        for trial, logs, artifact in zip(trials, logs_dirs, artifacts, strict=True)
    ]


def choose_winner(results: list[TrialResult]) -> int:
    """The position of the trial with the best validation AUC (ties: the lower index); NoWinner when none has one."""
    scored = [(result.validation_auc, -result.index, position) for position, result in enumerate(results)]
    scored = [item for item in scored if item[0] is not None]
    if not scored:
        problems = "; ".join(f"trial {r.index}: {r.problem}" for r in results)
        raise NoWinner(f"no trial of the search produced a validation AUC ({problems})")
    return max(scored)[2]


def with_cached(results: list[TrialResult], run_dir: str) -> list[TrialResult]:
    """The results with ``cached`` set for the run whose directory is ``run_dir`` (None: unknown)."""
    return [
        TrialResult(**{**asdict(result), "cached": None if not run_dir else not ran_in(result.artifact, run_dir)})
        for result in results
    ]


def make_table(results: list[TrialResult], winner: int) -> dict[str, Any]:
    """The trials table: ``trials`` (settings, validation AUC, epochs, seconds, cached, …) and ``winner`` (index)."""
    return {"trials": [asdict(result) for result in results], "winner": results[winner].index}


def write_table(table: dict[str, Any], directory: str) -> str:
    """Write ``trials.json`` into ``directory``; returns its path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, TRIALS_FILE)
    with open(path, "w") as handle:
        json.dump(table, handle, indent=2, sort_keys=True, allow_nan=False)
    return path


def read_table(directory: str) -> dict[str, Any] | None:
    """The trials table in ``directory`` (select's training logs), or None when the run did not search."""
    path = os.path.join(directory, TRIALS_FILE) if directory else ""
    if not path or not os.path.isfile(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def summary_trials(table: dict[str, Any] | None, run_dir: str = "") -> dict[str, Any]:
    """``trials`` and ``winner`` for a run summary, ``cached`` relative to the run in ``run_dir`` (empty: as select
    saw it); both None without a search."""
    if table is None:
        return {"trials": None, "winner": None}
    results = [TrialResult(**trial) for trial in table["trials"]]
    if run_dir:
        results = with_cached(results, run_dir)
    keys = ("index", "settings", "validation_auc", "epochs", "seconds", "cached", "problem")
    return {"trials": [{key: asdict(r)[key] for key in keys} for r in results], "winner": table["winner"]}


LINEAGE_KEYS = ("tuning_trial", "tuning_settings")


def lineage(index: int, settings: dict[str, Any]) -> dict[str, Any]:
    """The winning trial as registry lineage values: its index and its tuned settings as ``key=value`` strings
    (select puts them in the model's metadata, push into the registry entry)."""
    values = [f"{key}={json.dumps(value)}" for key, value in sorted(settings.items())]
    return dict(zip(LINEAGE_KEYS, (index, values), strict=True))


def lineage_of(model_metadata: dict[str, Any]) -> dict[str, Any]:
    """The winning trial's lineage values in a model artifact's metadata; {} for a model not chosen by a search."""
    if LINEAGE_KEYS[0] not in model_metadata:
        return {}
    index, settings = (model_metadata[key] for key in LINEAGE_KEYS)
    return lineage(int(index), {}) | {LINEAGE_KEYS[1]: [str(value) for value in settings]}  # metadata numbers: floats
