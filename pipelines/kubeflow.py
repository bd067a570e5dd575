"""Compiling the DAG to KFP IR YAML for Kubeflow Pipelines (submission and schedules come in a later issue)."""

from __future__ import annotations

import os

from kfp import compiler

from pipelines.config import RunConfig
from pipelines.dag import DEFAULT_IMAGE, build_pipeline, step_code_versions


def compile_pipeline(
    config: RunConfig,
    output: str | os.PathLike[str],
    image: str = DEFAULT_IMAGE,
    code: dict[str, str] | None = None,
    data: str | None = None,
) -> None:
    """Write the pipeline for ``config`` as KFP IR YAML.

    ``code`` (parameter name → hash) defaults to each step's code hash from the installed project, the code
    baked into ``image``; ``data`` is the data fingerprint default — leave it out to make it a run parameter.
    """
    defaults = dict(code or step_code_versions())
    if data:
        defaults["data_fingerprint"] = data
    compiler.Compiler().compile(build_pipeline(config, image), str(output), pipeline_parameters=defaults)
