"""The one DAG factory: a run config in, a KFP pipeline out. Local and Kubeflow runners only choose where it runs."""

from collections import namedtuple
from collections.abc import Callable
from typing import Any, NamedTuple

from kfp import dsl
from kfp.dsl import Artifact

from components.evaluate.component import evaluate
from components.ingest.component import ingest
from components.preprocess.component import preprocess
from components.push.component import push, resolve_baseline
from components.train.component import train
from pipelines.config import RunConfig
from pipelines.fingerprint import code_version

DEFAULT_IMAGE = "bigtrain:latest"
STEPS = ("ingest", "preprocess", "train", "resolve-baseline", "evaluate", "push")
# Set at every task's process start: bigtrain uses tf_keras deliberately (see components/train/model.py).
PIPELINE_OUTPUTS = ("statistics", "evaluation", "pushed")
TASK_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


def _component(func: Callable[..., Any], image: str) -> Callable[..., dsl.PipelineTask]:
    return dsl.component(func=func, base_image=image, install_kfp_package=False)


def _configure(task: dsl.PipelineTask, name: str, cache: bool) -> dsl.PipelineTask:
    task.set_display_name(name)
    task.set_caching_options(cache)
    for key, value in TASK_ENV.items():
        task.set_env_variable(key, value)
    return task


COMPONENTS: dict[str, Callable[..., Any]] = {
    "ingest": ingest,
    "preprocess": preprocess,
    "train": train,
    "resolve-baseline": resolve_baseline,
    "evaluate": evaluate,
    "push": push,
}
VERSIONED_STEPS = ("ingest", "preprocess", "train", "evaluate", "push")


def code_parameter(step: str) -> str:
    """The pipeline parameter holding a step's code version."""
    return f"{step}_code"


def step_code_versions() -> dict[str, str]:
    """Pipeline arguments: each versioned step's code hash, keyed by its parameter name."""
    return {code_parameter(step): code_version(COMPONENTS[step]) for step in VERSIONED_STEPS}


def build_pipeline(config: RunConfig, image: str = DEFAULT_IMAGE) -> Callable[..., Any]:
    """The bigtrain pipeline for ``config``, with the container ``image`` (a digest reference when known)."""
    ops = {name: _component(func, image) for name, func in COMPONENTS.items()}
    columns = config.columns_dict()
    beam = {"beam_runner": config.beam.runner, "beam_args": list(config.beam.options)}

    @dsl.pipeline(name=f"bigtrain-{config.name}", description=f"bigtrain training pipeline for {config.name!r}")
    def bigtrain_pipeline(
        ingest_code: str,
        preprocess_code: str,
        train_code: str,
        evaluate_code: str,
        push_code: str,
        data_fingerprint: str,
        source: str = config.data.source,
        serving_root: str = config.push.serving_root,
    ) -> NamedTuple("BigtrainOutputs", [("statistics", Artifact), ("evaluation", Artifact), ("pushed", Artifact)]):
        code = {
            "ingest": ingest_code,
            "preprocess": preprocess_code,
            "train": train_code,
            "evaluate": evaluate_code,
            "push": push_code,
        }

        def versions(step: str) -> dict[str, Any]:
            return {"code_version": code[step], "data_fingerprint": data_fingerprint}

        ingested = _configure(
            ops["ingest"](source=source, data_format=config.data.format, columns=columns, **beam, **versions("ingest")),
            "ingest",
            cache=True,
        )
        prepared = _configure(
            ops["preprocess"](
                examples=ingested.outputs["examples"],
                columns=columns,
                split_ratios=config.split.model_dump(),
                **beam,
                **versions("preprocess"),
            ),
            "preprocess",
            cache=True,
        )
        trained = _configure(
            ops["train"](
                transformed=prepared.outputs["transformed"],
                transform_graph=prepared.outputs["transform_graph"],
                columns=columns,
                model_settings=config.model.model_dump(),
                training_settings=config.training.model_dump(exclude_none=True),
                **versions("train"),
            ),
            "train",
            cache=True,
        )
        # Reads the registry, which changes outside KFP: never cached.
        baseline = _configure(
            ops["resolve-baseline"](serving_root=serving_root, model_name=config.push.model_name),
            "resolve-baseline",
            cache=False,
        )
        evaluated = _configure(
            ops["evaluate"](
                model=trained.outputs["model"],
                raw_examples=prepared.outputs["raw_examples"],
                baseline_path=baseline.outputs["baseline_path"],
                label=config.contract.label,
                slices=[list(s) for s in config.evaluation.slices],
                thresholds={k: v.model_dump(exclude_none=True) for k, v in config.evaluation.thresholds.items()},
                **beam,
                **versions("evaluate"),
            ),
            "evaluate",
            cache=True,
        )
        # Publishes outside KFP (and refuses unblessed models itself): never cached.
        pushed = _configure(
            ops["push"](
                model=trained.outputs["model"],
                blessing=evaluated.outputs["blessing"],
                evaluation=evaluated.outputs["evaluation"],
                raw_examples=prepared.outputs["raw_examples"],
                serving_root=serving_root,
                model_name=config.push.model_name,
                config_hash=config.config_hash(),
                **versions("push"),
            ),
            "push",
            cache=False,
        )
        return namedtuple("BigtrainOutputs", PIPELINE_OUTPUTS)(
            prepared.outputs["statistics"], evaluated.outputs["evaluation"], pushed.outputs["pushed"]
        )

    return bigtrain_pipeline
