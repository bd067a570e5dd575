"""Compiling the DAG to KFP IR YAML for a Kubeflow Pipelines cluster."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kfp import compiler

from pipelines.cluster_config import is_digest_reference
from pipelines.config import ConfigError, RunConfig
from pipelines.dag import ClusterTarget, build_pipeline, step_code_versions


@dataclass(frozen=True)
class CompiledPipeline:
    """A compiled pipeline file and what a person should know about it."""

    path: Path
    pipeline_name: str
    image: str
    warnings: list[str] = field(default_factory=list)


def cluster_target(config: RunConfig, image: str | None = None) -> tuple[ClusterTarget, list[str]]:
    """The cluster placement of ``config`` (``image`` overrides ``cluster.image``), and warnings for people.

    Raises ConfigError naming the field when the config cannot run on a cluster.
    """
    cluster = config.cluster
    if cluster is None:
        raise ConfigError("cluster: required to compile for Kubeflow (image, pipeline_root, data_source, serving)")
    chosen = image or cluster.image
    if not chosen:
        raise ConfigError("cluster.image: no component image; set it in the config or pass --image")
    gpu_image = cluster.gpu_image or chosen
    warnings = [
        f"{name} {ref!r} is a tag, not a digest: a re-pushed tag changes what runs without busting KFP's cache; "
        "prefer name@sha256:..."
        for name, ref in (("image", chosen), ("gpu_image", gpu_image))
        if not is_digest_reference(ref) and (name == "image" or ref != chosen)
    ]
    return ClusterTarget(
        cluster=cluster, image=chosen, gpu_image=gpu_image, notify=config.notify, warm_start=config.training.warm_start
    ), warnings


def compile_for_cluster(
    config: RunConfig,
    output: str | os.PathLike[str],
    image: str | None = None,
    code: dict[str, str] | None = None,
) -> CompiledPipeline:
    """Write the pipeline for ``config`` as KFP IR YAML for a cluster.

    ``code`` (parameter name → hash) defaults to each step's code hash from the installed project: the code
    baked into ``image``.
    """
    target, warnings = cluster_target(config, image)
    pipeline = build_pipeline(config, target)
    compiler.Compiler().compile(pipeline, str(output), pipeline_parameters=dict(code or step_code_versions()))
    return CompiledPipeline(Path(output), f"bigtrain-{config.name}", target.image, warnings)
