"""The one DAG factory: a run config in, a KFP pipeline out. Local and Kubeflow runners only choose where it runs.

Locally (``target=None``) the tasks carry no platform settings. For a cluster (``ClusterTarget``) the same tasks
get their image, resources, retries, object-store credentials, volumes and the GPU node pool from the config.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kfp import dsl, kubernetes

from components.evaluate.component import evaluate
from components.ingest.component import ingest
from components.notify.component import finalize, summarize
from components.notify.webhook import WEBHOOK_ENV
from components.preprocess.component import preprocess
from components.push.component import push, resolve_baseline
from components.resolve_data.component import resolve_data
from components.train.component import train
from pipelines.cluster_config import EXIT_STEP, PIPELINE_STEPS, RETRIED_STEPS, ClusterConfig, NotifyConfig
from pipelines.config import RunConfig
from pipelines.fingerprint import code_version

DEFAULT_IMAGE = "bigtrain:latest"
STEPS = PIPELINE_STEPS
# Set at every task's process start: bigtrain uses tf_keras deliberately (see components/train/model.py).
TASK_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
S3_ENDPOINT_ENV = "AWS_ENDPOINT_URL"  # boto3 (Beam's s3:// filesystem) reads the endpoint from here

COMPONENTS: dict[str, Callable[..., Any]] = {
    "resolve-data": resolve_data,
    "ingest": ingest,
    "preprocess": preprocess,
    "train": train,
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
UNCACHED_STEPS = ("resolve-data", "resolve-baseline", "push", "summarize", EXIT_STEP)


@dataclass(frozen=True)
class ClusterTarget:
    """Where the DAG runs on Kubeflow: the cluster section of the config and the chosen images."""

    cluster: ClusterConfig
    image: str
    gpu_image: str
    notify: NotifyConfig


def code_parameter(step: str) -> str:
    """The pipeline parameter holding a step's code version."""
    return f"{step}_code"


def step_code_versions() -> dict[str, str]:
    """Pipeline arguments: each versioned step's code hash, keyed by its parameter name."""
    return {code_parameter(step): code_version(COMPONENTS[step]) for step in VERSIONED_STEPS}


def _apply_cluster(task: dsl.PipelineTask, step: str, target: ClusterTarget) -> None:
    """Resources, retries, credentials, volumes and the GPU pool of one task on the cluster."""
    cluster = target.cluster
    size = cluster.resources_for(step)
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
    if step in ("resolve-baseline", "push"):
        kubernetes.mount_pvc(task, pvc_name=cluster.serving.pvc, mount_path=cluster.serving.mount_path)
    webhook = target.notify.webhook
    if webhook is not None and step in ("summarize", EXIT_STEP):
        kubernetes.use_secret_as_env(task, secret_name=webhook.secret, secret_key_to_env={webhook.key: WEBHOOK_ENV})
    if step == "train" and cluster.gpu is not None:
        gpu = cluster.gpu
        task.set_accelerator_type(gpu.accelerator).set_accelerator_limit(gpu.count)
        for key, value in sorted(gpu.node_selector.items()):
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
        for toleration in gpu.tolerations:
            kubernetes.add_toleration(
                task, key=toleration.key, operator=toleration.operator, value=toleration.value, effect=toleration.effect
            )


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

    def configure(task: dsl.PipelineTask, step: str) -> dsl.PipelineTask:
        task.set_display_name(step)
        task.set_caching_options(step not in UNCACHED_STEPS)
        for key, value in TASK_ENV.items():
            task.set_env_variable(key, value)
        if target is not None:
            _apply_cluster(task, step, target)
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
    ):
        code = {
            "ingest": ingest_code,
            "preprocess": preprocess_code,
            "train": train_code,
            "evaluate": evaluate_code,
            "push": push_code,
        }
        exit_task = configure(
            ops[EXIT_STEP](pipeline_name=pipeline_name, steps=list(STEPS)), EXIT_STEP
        )
        with dsl.ExitHandler(exit_task, name="bigtrain-run"):
            # Lists the data now (newest span, fingerprint): never cached, so a scheduled run sees new data.
            data = configure(ops["resolve-data"](source=source), "resolve-data")

            def versions(step: str) -> dict[str, Any]:
                return {"code_version": code[step], "data_fingerprint": data.outputs["fingerprint"]}

            ingested = configure(
                ops["ingest"](
                    source=data.outputs["pattern"],
                    data_format=config.data.format,
                    columns=columns,
                    **beam,
                    **versions("ingest"),
                ),
                "ingest",
            )
            prepared = configure(
                ops["preprocess"](
                    examples=ingested.outputs["examples"],
                    columns=columns,
                    split_ratios=config.split.model_dump(),
                    **beam,
                    **versions("preprocess"),
                ),
                "preprocess",
            )
            trained = configure(
                ops["train"](
                    transformed=prepared.outputs["transformed"],
                    transform_graph=prepared.outputs["transform_graph"],
                    columns=columns,
                    model_settings=config.model.model_dump(),
                    training_settings=config.training.model_dump(exclude_none=True),
                    **versions("train"),
                ),
                "train",
            )
            baseline = configure(
                ops["resolve-baseline"](serving_root=serving_root, model_name=config.push.model_name),
                "resolve-baseline",
            )
            evaluated = configure(
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
            )
            # Publishes outside KFP (and refuses unblessed models itself).
            pushed = configure(
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
            )
            configure(
                ops["summarize"](
                    statistics=prepared.outputs["statistics"],
                    evaluation=evaluated.outputs["evaluation"],
                    pushed=pushed.outputs["pushed"],
                    pipeline_name=pipeline_name,
                    run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                ),
                "summarize",
            )

    return bigtrain_pipeline
