"""Push: publish a model only if it is blessed and loads and serves in a fresh process."""

from __future__ import annotations

import json
from typing import Any

import tensorflow as tf

from components.evaluate.analysis import read_blessing
from components.push.infra_validate import validate_serving
from components.push.registry import publish

VALIDATION_EXAMPLES = 64


def sample_examples(pattern: str, count: int = VALIDATION_EXAMPLES) -> list[bytes]:
    """Up to ``count`` serialized raw examples from gzipped TFRecords (for the serving check)."""
    files = sorted(tf.io.gfile.glob(pattern))
    sample: list[bytes] = []
    for path in files:
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP").take(count - len(sample)):
            sample.append(record.numpy())
        if len(sample) >= count:
            break
    return sample


def push_if_blessed(
    model_dir: str,
    blessing_dir: str,
    evaluation_summary: str,
    examples_pattern: str,
    serving_root: str,
    model_name: str,
    config_hash: str,
    code_version: str,
    data_fingerprint: str,
    lineage: dict[str, str | int | None] | None = None,
) -> dict[str, Any]:
    """Publish when blessed; the returned record says what happened and why.

    ``code_version`` is the train step's (the code that produced the model); ``lineage`` records the run, the
    evaluated split, the baseline version and the data span in the registry entry.
    """
    if not read_blessing(blessing_dir):
        return {"pushed": False, "reason": "model not blessed", "version": None, "path": None}
    examples = sample_examples(examples_pattern)
    if not examples:
        return {"pushed": False, "reason": "no examples to validate serving with", "version": None, "path": None}
    check = validate_serving(model_dir, examples)
    with open(evaluation_summary) as handle:
        overall = json.load(handle).get("overall", {})
    metrics = {k: float(v) for k, v in overall.items() if isinstance(v, int | float)}
    result = publish(
        model_dir,
        serving_root,
        model_name,
        metrics=metrics,
        config_hash=config_hash,
        data_fingerprint=data_fingerprint,
        code_version=code_version,
        lineage=lineage,
    )
    return {
        "pushed": True,
        "created": result.created,
        "reason": "new version" if result.created else "identical model already published",
        "version": result.entry.version,
        "path": result.entry.path,
        "infra_validation": {"examples": check.examples, "seconds": round(check.seconds, 2)},
    }


