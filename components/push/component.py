"""KFP adapters for the registry: resolve the baseline (never cached) and push a blessed model."""

from typing import NamedTuple

from kfp.dsl import Artifact, Dataset, Input, Model, Output


def resolve_warm_start(serving_root: str, model_name: str) -> NamedTuple(
    "WarmStartOutputs", [("warm_start_path", str), ("warm_start_version", int)]
):
    """The latest pushed version to warm-start training from, or an empty path when none was pushed yet.

    Args:
        serving_root: The registry root (TF Serving layout); a mounted volume on Kubeflow.
        model_name: The model whose latest version training starts from.
    """
    from collections import namedtuple

    from components.push.registry import latest

    entry = latest(serving_root, model_name)
    outputs = namedtuple("WarmStartOutputs", ["warm_start_path", "warm_start_version"])
    return outputs("", 0) if entry is None else outputs(entry.path, entry.version)


def resolve_baseline(model: Input[Model], serving_root: str, model_name: str) -> NamedTuple(
    "BaselineOutputs",
    [("baseline_path", str), ("baseline_version", int), ("served_version", int), ("candidate_is_served", bool)],
):
    """The served version to evaluate the candidate against; none when nothing was pushed or the candidate is it.

    Args:
        model: The candidate SavedModel, compared by content digest with the served version.
        serving_root: The registry root (TF Serving layout); a mounted volume on Kubeflow.
        model_name: The model whose latest version is the baseline.
    """
    from collections import namedtuple

    from components.push.baseline import choose_baseline

    baseline = choose_baseline(serving_root, model_name, model.path)
    if baseline.candidate_is_served:
        print(f"resolve-baseline: the candidate is served version {baseline.served_version}; no self-comparison")
    fields = ["baseline_path", "baseline_version", "served_version", "candidate_is_served"]
    outputs = namedtuple("BaselineOutputs", fields)
    return outputs(baseline.path, baseline.version, baseline.served_version, baseline.candidate_is_served)


def push(
    model: Input[Model],
    blessing: Input[Artifact],
    evaluation: Input[Artifact],
    raw_examples: Input[Dataset],
    statistics: Input[Artifact],
    serving_root: str,
    model_name: str,
    config_hash: str,
    code_version: str,
    data_fingerprint: str,
    train_code_version: str,
    baseline_version: int,
    data_spans: list,
    run_name: str,
    pushed: Output[Artifact],
) -> int:
    """Publish the model if it is blessed and serves; returns the version (0 when not pushed).

    Args:
        model: The trained SavedModel.
        blessing: Evaluate's blessing; an unblessed model is never published.
        evaluation: Evaluate's summary; its test metrics go into the registry entry.
        raw_examples: Raw examples; the eval split feeds the serving check when evaluate did not record one.
        statistics: Ingest's statistics; its column statistics are published with the model, for drift checks.
        serving_root: The registry root (TF Serving layout); a mounted volume on Kubeflow.
        model_name: The model to publish a version of.
        config_hash: Hash of the run config, recorded in the registry.
        code_version: This step's code hash (a cache key).
        data_fingerprint: The input data's fingerprint, recorded in the registry.
        train_code_version: The train step's code hash: the code that produced the model, recorded in the registry.
        baseline_version: The version the model was compared with (0: none).
        data_spans: The data spans trained on, oldest first ([]: the source has no spans).
        run_name: The pipeline run, recorded in the registry so a version can be traced back to it.
    """
    import json
    import os

    from beam_jobs.layout import (
        COLUMN_STATS_FILE,
        EVALUATION_SUMMARY_FILE,
        PUSH_RECORD_FILE,
        SERVING_CHECK_SPLIT,
        TEST_SPLIT,
        split_files,
    )
    from components.push.pusher import push_if_blessed
    from components.tune.select import lineage_of

    outcome = push_if_blessed(
        model_dir=model.path,
        blessing_dir=blessing.path,
        evaluation_summary=os.path.join(evaluation.path, EVALUATION_SUMMARY_FILE),
        examples_pattern=split_files(raw_examples.path, SERVING_CHECK_SPLIT),
        serving_root=serving_root,
        model_name=model_name,
        config_hash=config_hash,
        code_version=train_code_version,
        data_fingerprint=data_fingerprint,
        lineage={
            "run": run_name,
            # <pipeline root>/<run>/push/pushed: locally a directory, on Kubeflow an object-store URI.
            "run_dir": pushed.uri.rstrip("/").rsplit("/", 2)[0],
            "evaluated_split": TEST_SPLIT,
            "baseline_version": baseline_version or None,
            "data_spans": [str(span) for span in data_spans],
            **lineage_of(model.metadata),  # a search's winning trial: its index and tuned settings
        },
        data_statistics=os.path.join(statistics.path, COLUMN_STATS_FILE),
    )
    os.makedirs(pushed.path, exist_ok=True)
    with open(os.path.join(pushed.path, PUSH_RECORD_FILE), "w") as handle:
        json.dump(outcome, handle, indent=2, sort_keys=True)
    pushed.metadata.update({k: v for k, v in outcome.items() if v is not None})
    return int(outcome.get("version") or 0)
