"""The one DAG factory: a run config in, a KFP pipeline out. Local and Kubeflow runners only choose where it runs.

Locally (``target=None``) the tasks carry no platform settings. For a cluster (``ClusterTarget``) the same tasks
get their image, resources, retries, object-store credentials, volumes and the GPU node pool from the config.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kfp import dsl, kubernetes

from components.evaluate.component import evaluate
from components.ingest.component import ingest
from components.notify.component import finalize, summarize
from components.notify.webhook import WEBHOOK_ENV
from components.preprocess.component import preprocess
from components.push.component import push, resolve_baseline, resolve_warm_start
from components.resolve_data.component import resolve_data
from components.train.cluster_component import train_on_cluster
from components.train.component import train
from components.train.tfjob import USER_ID
from components.tune.component import select, suggest
from components.tune.space import as_parameter
from components.validate_data.component import validate_data
from pipelines.cluster_config import (
    EXIT_STEP,
    PIPELINE_STEPS,
    REGISTRY_STEPS,
    RETRIED_STEPS,
    ClusterConfig,
    NotifyConfig,
)
from pipelines.config import RunConfig, TuningConfig
from pipelines.fingerprint import code_version

DEFAULT_IMAGE = "bigtrain:latest"
STEPS = PIPELINE_STEPS
# Set at every task's process start: bigtrain uses tf_keras deliberately (see components/train/model.py).
TASK_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
LOCAL_CHECKPOINT_ROOT = ".bigtrain/checkpoints"  # relative to where bigtrain runs; the local runner passes its own
S3_ENDPOINT_ENV = "AWS_ENDPOINT_URL"  # boto3 (Beam's s3:// filesystem) reads the endpoint from here

COMPONENTS: dict[str, Callable[..., Any]] = {
    "resolve-data": resolve_data,
    "ingest": ingest,
    "validate-data": validate_data,
    "preprocess": preprocess,
    "resolve-warm-start": resolve_warm_start,
    "train": train,
    "suggest": suggest,
    "select": select,
    "resolve-baseline": resolve_baseline,
    "evaluate": evaluate,
    "push": push,
    "summarize": summarize,
    EXIT_STEP: finalize,
}
# Deterministic steps: cached, and keyed on their own code version and the data fingerprint.
VERSIONED_STEPS = ("ingest", "preprocess", "train", "evaluate", "push")
# Steps that read or write state outside KFP (the data listing, the registry, the webhook) and the exit handler:
# never cached.
UNCACHED_STEPS = ("resolve-data", *REGISTRY_STEPS, "summarize", EXIT_STEP)
# A search's steps (with `tuning:`), cached and keyed on train's code version, and sized on a cluster like these steps:
# suggest is light, select copies the winner's model like push copies one.
SEARCH_STEPS = {"suggest": "resolve-data", "select": "push"}


@dataclass(frozen=True)
class ClusterTarget:
    """Where the DAG runs on Kubeflow: the cluster section of the config and the chosen images."""

    cluster: ClusterConfig
    image: str
    gpu_image: str
    notify: NotifyConfig
    warm_start: bool = False


def pipeline_steps(config: RunConfig) -> tuple[str, ...]:
    """The steps inside the exit handler for ``config``, in order (resolve-warm-start only when warm-starting)."""
    return tuple(step for step in STEPS if step != "resolve-warm-start" or config.training.warm_start)


def code_parameter(step: str) -> str:
    """The pipeline parameter holding a step's code version."""
    return f"{step}_code"


def step_code_versions() -> dict[str, str]:
    """Pipeline arguments: each versioned step's code hash, keyed by its parameter name.

    train's hash covers both of its forms, the local step and the cluster launcher (whose pods run the local code),
    and a search's suggest and select steps, which are keyed on it.
    """
    versions = {code_parameter(step): code_version(COMPONENTS[step]) for step in VERSIONED_STEPS}
    forms = (train_on_cluster, *(COMPONENTS[step] for step in SEARCH_STEPS))
    every = versions[code_parameter("train")] + "".join(code_version(form) for form in forms)
    versions[code_parameter("train")] = hashlib.sha256(every.encode()).hexdigest()[:16]
    return versions


def _apply_cluster(task: dsl.PipelineTask, step: str, target: ClusterTarget, launcher: bool = False) -> None:
    """Resources, retries, credentials, volumes and the GPU pool of one task on the cluster (``launcher``: the train
    launcher, whose TFJob's pods, not the task itself, get the train resources and go to the pool)."""
    cluster = target.cluster
    # The image's numeric user; runAsNonRoot makes the kubelet refuse to start the step as root.
    kubernetes.set_security_context(task, run_as_user=USER_ID, run_as_group=USER_ID, run_as_non_root=True)
    size = cluster.launcher_resources if launcher else cluster.resources_for(SEARCH_STEPS.get(step, step))
    task.set_cpu_request(size.cpu_request).set_cpu_limit(size.cpu_limit)
    task.set_memory_request(size.memory_request).set_memory_limit(size.memory_limit)
    if step in RETRIED_STEPS and cluster.retries.count:
        task.set_retry(
            num_retries=cluster.retries.count,
            backoff_duration=cluster.retries.backoff,
            backoff_factor=cluster.retries.factor,
            backoff_max_duration=cluster.retries.max_backoff,
        )
    store = cluster.object_store
    if store is not None:
        if store.env:
            kubernetes.use_secret_as_env(task, secret_name=store.secret, secret_key_to_env=dict(store.env))
        if store.credentials_file is not None:
            file = store.credentials_file
            kubernetes.use_secret_as_volume(task, secret_name=store.secret, mount_path=file.mount_path)
            task.set_env_variable(file.env, f"{file.mount_path.rstrip('/')}/{file.key}")
        if store.endpoint:
            task.set_env_variable(S3_ENDPOINT_ENV, store.endpoint)
    if cluster.data_volume is not None and step in ("resolve-data", "ingest"):
        kubernetes.mount_pvc(task, pvc_name=cluster.data_volume.pvc, mount_path=cluster.data_volume.mount_path)
    volumes = {step: [cluster.serving] for step in REGISTRY_STEPS}
    volumes["train"] = [cluster.shared_volume]
    if target.warm_start and cluster.shared_volume != cluster.serving:
        volumes["train"].append(cluster.serving)  # the baseline to warm-start from lives in the registry
    for volume in volumes.get(step, []):
        kubernetes.mount_pvc(task, pvc_name=volume.pvc, mount_path=volume.mount_path)
    webhook = target.notify.webhook
    if webhook is not None and step in ("summarize", EXIT_STEP):
        kubernetes.use_secret_as_env(task, secret_name=webhook.secret, secret_key_to_env={webhook.key: WEBHOOK_ENV})
    if step == "train" and cluster.gpu is not None and not launcher:
        gpu = cluster.gpu
        task.set_accelerator_type(gpu.accelerator).set_accelerator_limit(gpu.count)
        for key, value in sorted(gpu.node_selector.items()):
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
        for toleration in gpu.tolerations:
            kubernetes.add_toleration(
                task, key=toleration.key, operator=toleration.operator, value=toleration.value, effect=toleration.effect
            )


def trains_as_tfjob(config: RunConfig, target: "ClusterTarget | None") -> bool:
    """True when the train step launches a TFJob: on a cluster, with several workers or a GPU pool."""
    return target is not None and (config.training.workers > 1 or target.cluster.gpu is not None)


def tfjob_parameters(config: RunConfig, target: ClusterTarget) -> dict[str, Any]:
    """The train launcher's cluster parameters: where and how its TFJob runs (see train_on_cluster)."""
    cluster = target.cluster
    return {
        "image": target.gpu_image,
        "namespace": cluster.namespace,
        "service_account": cluster.service_account,
        "resources": cluster.resources_for("train").model_dump(mode="json"),
        "gpu": cluster.gpu.model_dump(mode="json", exclude_none=True) if cluster.gpu is not None else {},
        "shared_pvc": cluster.shared_volume.pvc,
        "shared_mount_path": cluster.shared_volume.mount_path,
        "timeout_seconds": config.training.worker_timeout_seconds,
    }


def _train_launcher(image: str) -> Any:
    """train_on_cluster as a component on ``image``, named "train" like the local step: the task, its executor and
    what the UI and the tests look for keep their names."""
    component = dsl.component(func=train_on_cluster, base_image=image, install_kfp_package=False)
    component.component_spec.name = component.name = "train"
    return component


def _warm_start_path(
    ops: dict[str, Any], configure: Callable[..., dsl.PipelineTask], serving_root: Any, config: RunConfig
) -> Any:
    """The version to warm-start from (a never-cached registry lookup before train), or "" without warm start."""
    if not config.training.warm_start:
        return ""
    task = ops["resolve-warm-start"](serving_root=serving_root, model_name=config.push.model_name)
    return configure(task, "resolve-warm-start").outputs["warm_start_path"]


def _search(
    ops: dict[str, Any],
    configure: Callable[..., dsl.PipelineTask],
    train_task: Callable[..., dsl.PipelineTask],
    config: RunConfig,
    tuning: TuningConfig,
    train_inputs: dict[str, Any],
) -> tuple[Any, Any]:
    """A hyperparameter search in place of the one train task: suggest the trials, train each (its own task, cached
    on its own, ``parallelism`` at a time), select the best by validation AUC. Returns the winner's model and logs."""
    code, data_fingerprint = train_inputs["code_version"], train_inputs["data_fingerprint"]
    warm_start_from = train_inputs["warm_start_from"]
    suggested = configure(
        ops["suggest"](
            tuning=tuning.model_dump(mode="json"),
            model_settings=as_parameter(config.model),
            training_settings=as_parameter(config.training),
            warm_start_from=warm_start_from,
            code_version=code,
            data_fingerprint=data_fingerprint,
        ),
        "suggest",
    )
    with dsl.ParallelFor(suggested.output, parallelism=tuning.parallelism) as trial:
        # The task-output parameters come through the item (kfp.local would hand the loop item in their place).
        trained = train_task(
            model_settings=trial.model_settings,
            training_settings=trial.training_settings,
            data_fingerprint=trial.data_fingerprint,
            warm_start_from=trial.warm_start_from,
        )
    selected = configure(
        ops["select"](
            trials=suggested.output,
            trial_models=dsl.Collected(trained.outputs["model"]),
            trial_logs=dsl.Collected(trained.outputs["training_logs"]),
            code_version=code,
        ),
        "select",
    )
    return selected.outputs["model"], selected.outputs["training_logs"]


def build_pipeline(config: RunConfig, target: "ClusterTarget | None" = None) -> Callable[..., Any]:
    """The bigtrain pipeline for ``config``: for this machine (``target=None``) or for a Kubeflow cluster."""
    image = target.image if target else DEFAULT_IMAGE
    ops = {
        name: dsl.component(
            func=func,
            base_image=target.gpu_image if target and name == "train" else image,
            install_kfp_package=False,
        )
        for name, func in COMPONENTS.items()
    }
    columns = config.columns_dict()
    beam = {"beam_runner": config.beam.runner, "beam_args": list(config.beam.options)}
    pipeline_name = f"bigtrain-{config.name}"

    def configure(task: dsl.PipelineTask, step: str, launcher: bool = False) -> dsl.PipelineTask:
        task.set_display_name(step)
        task.set_caching_options(step not in UNCACHED_STEPS)
        for key, value in TASK_ENV.items():
            task.set_env_variable(key, value)
        if target is not None:
            _apply_cluster(task, step, target, launcher)
        return task

    @dsl.pipeline(
        name=pipeline_name,
        description=f"bigtrain training pipeline for {config.name!r}",
        pipeline_root=target.cluster.pipeline_root if target else None,
    )
    def bigtrain_pipeline(
        ingest_code: str,
        preprocess_code: str,
        train_code: str,
        evaluate_code: str,
        push_code: str,
        source: str = target.cluster.data_source if target else config.data.source,
        serving_root: str = target.cluster.serving.mount_path if target else config.push.serving_root,
        checkpoint_root: str = target.cluster.checkpoint_root if target else LOCAL_CHECKPOINT_ROOT,
    ):
        code = {
            "ingest": ingest_code,
            "preprocess": preprocess_code,
            "train": train_code,
            "evaluate": evaluate_code,
            "push": push_code,
        }
        exit_task = configure(ops[EXIT_STEP](pipeline_name=pipeline_name, steps=list(STEPS)), EXIT_STEP)
        with dsl.ExitHandler(exit_task, name="bigtrain-run"):
            # Lists the data now (the chosen spans, fingerprint): never cached, so a scheduled run sees new data.
            data = configure(ops["resolve-data"](source=source, spans=json.dumps(config.data.spans)), "resolve-data")

            def versions(step: str) -> dict[str, Any]:
                return {"code_version": code[step], "data_fingerprint": data.outputs["fingerprint"]}

            ingested = configure(
                ops["ingest"](
                    sources=data.outputs["patterns"],
                    data_format=config.data.format,
                    dedupe_by_key=config.data.dedupe == "key",
                    columns=columns,
                    split_ratios=config.split.model_dump(),
                    **beam,
                    **versions("ingest"),
                ),
                "ingest",
            )
            # Stops the run before preprocess and train when the data is unfit (config ranges, drift vs the served
            # model's data); never cached: it reads the registry.
            validated = configure(
                ops["validate-data"](
                    statistics=ingested.outputs["statistics"],
                    columns=columns,
                    validation=config.validation.model_dump(mode="json"),
                    serving_root=serving_root,
                    model_name=config.push.model_name,
                ),
                "validate-data",
            )
            prepared = configure(
                ops["preprocess"](
                    examples=ingested.outputs["examples"],
                    columns=columns,
                    crosses=config.crosses_list(),
                    **beam,
                    **versions("preprocess"),
                ),
                "preprocess",
            )
            prepared.after(validated)
            train_inputs = dict(
                transformed=prepared.outputs["transformed"],
                transform_graph=prepared.outputs["transform_graph"],
                columns=columns,
                crosses=config.crosses_list(),
                model_settings=as_parameter(config.model),
                training_settings=as_parameter(config.training),
                # Only a warm-starting run depends on the registry; others keep their cache across pushes.
                warm_start_from=_warm_start_path(ops, configure, serving_root, config),
                checkpoint_root=checkpoint_root,
                **versions("train"),
            )

            def train_task(**settings: Any) -> dsl.PipelineTask:
                """One train task (``settings``: a trial's model and training settings instead of the config's)."""
                inputs = {**train_inputs, **settings}
                if target is not None and trains_as_tfjob(config, target):
                    # A CPU launcher pod; the TFJob's pods get the image, resources and GPU pool of the train step.
                    launcher = _train_launcher(target.image)(**inputs, **tfjob_parameters(config, target))
                    return configure(launcher, "train", launcher=True)
                return configure(ops["train"](**inputs), "train")

            if config.tuning is None:
                trained = train_task()
                model, training_logs = trained.outputs["model"], trained.outputs["training_logs"]
            else:
                model, training_logs = _search(ops, configure, train_task, config, config.tuning, train_inputs)
            # After train: the candidate's digest decides whether the served version is a baseline or the candidate.
            baseline = configure(
                ops["resolve-baseline"](model=model, serving_root=serving_root, model_name=config.push.model_name),
                "resolve-baseline",
            )
            evaluated = configure(
                ops["evaluate"](
                    model=model,
                    raw_examples=ingested.outputs["examples"],
                    statistics=ingested.outputs["statistics"],
                    training_logs=training_logs,
                    baseline_path=baseline.outputs["baseline_path"],
                    baseline_version=baseline.outputs["baseline_version"],
                    label=config.contract.label,
                    slices=[list(s) for s in config.evaluation.slices],
                    thresholds={k: v.model_dump(exclude_none=True) for k, v in config.evaluation.thresholds.items()},
                    decision_threshold=config.evaluation.decision_threshold,
                    min_slice_size=config.evaluation.min_slice_size,
                    slice_thresholds=[t.model_dump(exclude_none=True) for t in config.evaluation.slice_thresholds],
                    **beam,
                    **versions("evaluate"),
                ),
                "evaluate",
            )
            # Publishes outside KFP (and refuses unblessed models itself).
            pushed = configure(
                ops["push"](
                    model=model,
                    blessing=evaluated.outputs["blessing"],
                    evaluation=evaluated.outputs["evaluation"],
                    raw_examples=ingested.outputs["examples"],
                    statistics=ingested.outputs["statistics"],
                    serving_root=serving_root,
                    model_name=config.push.model_name,
                    config_hash=config.config_hash(),
                    train_code_version=code["train"],
                    baseline_version=baseline.outputs["baseline_version"],
                    data_spans=data.outputs["spans"],
                    run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                    **versions("push"),
                ),
                "push",
            )
            configure(
                ops["summarize"](
                    statistics=ingested.outputs["statistics"],
                    evaluation=evaluated.outputs["evaluation"],
                    pushed=pushed.outputs["pushed"],
                    training_logs=training_logs,
                    pipeline_name=pipeline_name,
                    run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                    data_spans=data.outputs["spans"],
                    served_version=baseline.outputs["served_version"],
                    candidate_is_served=baseline.outputs["candidate_is_served"],
                    anomalies=validated.outputs["anomalies"],
                ),
                "summarize",
            )

    return bigtrain_pipeline
