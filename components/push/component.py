"""KFP adapters for the registry: resolve the baseline (never cached) and push a blessed model."""

from typing import NamedTuple

from kfp.dsl import Artifact, Dataset, Input, Model, Output


def resolve_baseline(serving_root: str, model_name: str) -> NamedTuple(
    "BaselineOutputs", [("baseline_path", str), ("baseline_version", int)]
):
    """The latest pushed version of the model, or an empty path when none was pushed yet."""
    from collections import namedtuple

    from components.push.registry import latest

    entry = latest(serving_root, model_name)
    outputs = namedtuple("BaselineOutputs", ["baseline_path", "baseline_version"])
    if entry is None:
        return outputs("", 0)
    return outputs(entry.path, entry.version)


def push(
    model: Input[Model],
    blessing: Input[Artifact],
    evaluation: Input[Artifact],
    raw_examples: Input[Dataset],
    serving_root: str,
    model_name: str,
    config_hash: str,
    code_version: str,
    data_fingerprint: str,
    pushed: Output[Artifact],
) -> int:
    """Publish the model if it is blessed and serves; returns the version (0 when not pushed)."""
    import json
    import os

    from beam_jobs.layout import EVAL_SPLIT, EVALUATION_SUMMARY_FILE, PUSH_RECORD_FILE, split_files
    from components.push.pusher import push_if_blessed

    outcome = push_if_blessed(
        model_dir=model.path,
        blessing_dir=blessing.path,
        evaluation_summary=os.path.join(evaluation.path, EVALUATION_SUMMARY_FILE),
        examples_pattern=split_files(raw_examples.path, EVAL_SPLIT),
        serving_root=serving_root,
        model_name=model_name,
        config_hash=config_hash,
        code_version=code_version,
        data_fingerprint=data_fingerprint,
    )
    os.makedirs(pushed.path, exist_ok=True)
    with open(os.path.join(pushed.path, PUSH_RECORD_FILE), "w") as handle:
        json.dump(outcome, handle, indent=2, sort_keys=True)
    pushed.metadata.update({k: v for k, v in outcome.items() if v is not None})
    return int(outcome.get("version") or 0)
