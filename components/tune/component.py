"""KFP adapters for a hyperparameter search: suggest (the trials) and select (the winner of the trained trials)."""

from typing import List  # noqa: UP035  KFP reads Input[List[...]] annotations, not list[...]

from kfp.dsl import Artifact, Input, Model, Output


def suggest(
    tuning: dict,
    model_settings: dict,
    training_settings: dict,
    warm_start_from: str,
    code_version: str,
    data_fingerprint: str,
) -> list:
    """Every trial's full model and training settings, suggested at once (Optuna, seeded, prefix-stable).

    Each trial also carries the data fingerprint and warm-start path its train task needs: kfp 2.17.3's local runner
    replaces every task output parameter entering a ParallelFor with the loop item, so they travel inside the item.

    Args:
        tuning: The config's ``tuning`` section (trials, sampler, seed, space).
        model_settings: The config's ``model`` section, the base every trial overrides.
        training_settings: The config's ``training`` section, the base every trial overrides.
        warm_start_from: The model every trial warm-starts from (empty: none), passed on to the trials.
        code_version: The search's code hash (a cache key).
        data_fingerprint: The input data's fingerprint (a cache key), passed on to the trials.
    """
    from components.tune.space import TuningSettings
    from components.tune.suggest import suggest as suggest_trials

    trials = suggest_trials(TuningSettings.model_validate(tuning), model_settings, training_settings)
    passed_on = {"data_fingerprint": data_fingerprint, "warm_start_from": warm_start_from}
    return [{**trial.to_json(), **passed_on} for trial in trials]


def select(
    trials: list,
    trial_models: Input[List[Model]],  # noqa: UP006
    trial_logs: Input[List[Artifact]],  # noqa: UP006
    code_version: str,
    model: Output[Model],
    training_logs: Output[Artifact],
    trials_table: Output[Artifact],
) -> int:
    """Pick the trial with the best validation AUC; its model and training logs (plus the trials table) go on.

    Args:
        trials: Suggest's trials, in order.
        trial_models: Every trial's model, in trial order.
        trial_logs: Every trial's training logs (result.json: validation AUC, epochs, seconds), in trial order.
        code_version: The search's code hash (a cache key).
    """
    import shutil

    from components.tune.select import (
        choose_winner,
        lineage,
        make_table,
        read_trials,
        run_dir_of,
        with_cached,
        write_table,
    )

    results = read_trials(trials, [logs.path for logs in trial_logs], [logs.uri for logs in trial_logs])
    results = with_cached(results, run_dir_of(trials_table.uri))
    winner = choose_winner(results)
    table = make_table(results, winner)
    write_table(table, trials_table.path)
    shutil.copytree(trial_models[winner].path, model.path, dirs_exist_ok=True)
    shutil.copytree(trial_logs[winner].path, training_logs.path, dirs_exist_ok=True)
    write_table(table, training_logs.path)  # evaluate's report and summarize read the table beside the winner's logs
    chosen = results[winner]
    model.metadata.update({**trial_models[winner].metadata, **lineage(chosen.index, chosen.settings)})
    training_logs.metadata.update(trial_logs[winner].metadata)
    trials_table.metadata.update({"winner": chosen.index, "validation_auc": chosen.validation_auc})
    return chosen.index
