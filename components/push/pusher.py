"""Push: publish a model only if it is blessed and loads and serves in a fresh process.

This process never imports TensorFlow: the serving check loads the model in a fresh process of its own, and
re-pushing the model that is already served is a registry read and a digest, nothing more.
"""

from __future__ import annotations

import json
import os
from typing import Any

from beam_jobs.layout import SERVING_CHECK_FILE
from components.evaluate.analysis import read_blessing
from components.process_guard import guard_step
from components.push.registry import LineageValue, latest, model_digest, publish
from components.push.serving_verdict import recorded_verdict, sample_examples


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
    lineage: dict[str, LineageValue] | None = None,
    data_statistics: str | None = None,
) -> dict[str, Any]:
    """Publish when blessed; the returned record says what happened and why.

    ``code_version`` is the train step's (the code that produced the model); ``lineage`` records the run, the
    evaluated split, the baseline version and the data spans in the registry entry; ``data_statistics`` (ingest's
    column statistics file) is published with the model.
    """
    guard_step()  # under `bigtrain run`: this step and its serving-check child do not outlive the CLI
    if not read_blessing(blessing_dir):
        return {"pushed": False, "reason": "model not blessed", "version": None, "path": None}
    served = latest(serving_root, model_name)
    if served is not None and served.model_digest == model_digest(model_dir):
        # Validated when it was published, and the bytes are the same: nothing to check, nothing to write.
        return {
            "pushed": True,
            "created": False,
            "reason": f"already serving this model as version {served.version}; serving check skipped",
            "version": served.version,
            "path": served.path,
        }
    check = recorded_verdict(os.path.join(blessing_dir, SERVING_CHECK_FILE), model_dir)
    checked_by = "evaluate"
    if check is None:
        from components.push.infra_validate import validate_serving

        examples = sample_examples(examples_pattern)
        if not examples:
            return {"pushed": False, "reason": "no examples to validate serving with", "version": None, "path": None}
        check, checked_by = validate_serving(model_dir, examples), "push"
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
        data_statistics=data_statistics,
    )
    return {
        "pushed": True,
        "created": result.created,
        "reason": "new version" if result.created else "identical model already published",
        "version": result.entry.version,
        "path": result.entry.path,
        "infra_validation": {"examples": check.examples, "seconds": round(check.seconds, 2), "checked_by": checked_by},
    }
