"""The Kubeflow training-operator ``TFJob`` (kubeflow.org/v1) that runs one train step on the cluster.

Pure: settings in, a manifest dict out (no kubernetes import), so the manifest is golden-tested without a cluster.

The operator starts one pod per worker and sets ``TF_CONFIG`` in each one's ``tensorflow`` container:
``{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}`` (none for a single replica). With no
``Chief`` replica declared, worker 0 is the chief: the operator treats ``Worker`` index 0 as the master role and
marks the job Succeeded when worker 0 completes (training-operator v1.9 ``IsMasterRole``/``UpdateJobStatus``), and
``components.train.distribute.is_chief`` says the same (type ``worker``, index 0, no ``chief`` in the cluster).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

GROUP = "kubeflow.org"
VERSION = "v1"
PLURAL = "tfjobs"
KIND = "TFJob"
CONTAINER = "tensorflow"  # the operator sets TF_CONFIG in, and reads the exit code of, the container of this name
REPLICA_TYPE = "Worker"
JOB_NAME_LABEL = "training.kubeflow.org/job-name"  # the operator puts it on every pod of the job
RUN_LABEL = "bigtrain/run"
USER_ID = 10001  # the image's user (Dockerfile: USER 10001:10001)
SHARED_VOLUME = "shared"
# Set in every training process: bigtrain trains with tf_keras (see components/train/model.py); logs unbuffered.
FIXED_ENV = {"TF_USE_LEGACY_KERAS": "1", "PYTHONUNBUFFERED": "1"}
STEP_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}  # as in every pipeline task (pipelines.dag.TASK_ENV)
JOB_PREFIX = "bigtrain-train-"
TRAIN_MODULE = "components.train.main"
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PodResources(_Spec):
    """CPU and memory of each worker pod (Kubernetes quantities), as ``cluster.resources.train`` gives them."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str


class GpuToleration(_Spec):
    """A toleration of the GPU pool's taint."""

    key: str
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class GpuRequest(_Spec):
    """The GPUs of each worker pod and where they are: ``cluster.gpu`` of the run config."""

    accelerator: str = Field(default="nvidia.com/gpu", min_length=1, description="extended resource name")
    count: int = Field(default=1, ge=1)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[GpuToleration] = Field(default_factory=list)


class SharedVolume(_Spec):
    """The ReadWriteMany PersistentVolumeClaim every worker mounts: the staged request, inputs, outputs, backup."""

    pvc: str = Field(min_length=1)
    mount_path: str = Field(pattern=r"^/")


def job_name_problem(name: str, workers: int) -> str | None:
    """Why ``name`` cannot name a TFJob of ``workers`` workers, or None. The operator's webhook wants a DNS-1035
    label, and each worker's pod and Service are named ``<name>-worker-<index>`` (63 characters at most)."""
    longest = f"{name}-{REPLICA_TYPE.lower()}-{workers - 1}"
    if not _DNS_1035.match(name):
        return f"TFJob name {name!r} is not a DNS-1035 label (lowercase letters, digits, '-'; starts with a letter)"
    if len(longest) > 63:
        return f"TFJob name {name!r} is too long: its pods would be named like {longest!r} (over 63 characters)"
    return None


def _resources(resources: PodResources, gpu: GpuRequest | None) -> dict[str, Any]:
    limits: dict[str, str] = {"cpu": resources.cpu_limit, "memory": resources.memory_limit}
    if gpu is not None:
        limits[gpu.accelerator] = str(gpu.count)  # extended resources: the request defaults to the limit
    return {"requests": {"cpu": resources.cpu_request, "memory": resources.memory_request}, "limits": limits}


def _toleration(toleration: GpuToleration) -> dict[str, str]:
    return {key: value for key, value in toleration.model_dump().items() if value is not None}


def tfjob_manifest(
    name: str,
    namespace: str,
    image: str,
    workers: int,
    command: Sequence[str],
    service_account: str,
    resources: PodResources | Mapping[str, Any],
    gpu: GpuRequest | Mapping[str, Any] | None,
    shared_volume: SharedVolume | Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    *,
    run: str,
    active_deadline_seconds: int,
    backoff_limit: int = 3,
) -> dict[str, Any]:
    """A TFJob running ``command`` in ``workers`` pods of ``image`` (worker 0 is the chief).

    ``run`` labels the job and its pods (``bigtrain/run``): the train step it belongs to. An empty ``gpu`` mapping
    means no GPU. Raises ValueError for a name the operator or Kubernetes would refuse, or a bad setting.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    problem = job_name_problem(name, workers)
    if problem:
        raise ValueError(problem)
    if not command:
        raise ValueError("the TFJob needs a command")
    if not _LABEL_VALUE.match(run):
        raise ValueError(f"run {run!r} is not a label value (63 characters at most: letters, digits, '-', '_', '.')")
    size = PodResources.model_validate(resources)
    pool = GpuRequest.model_validate(gpu) if gpu else None
    volume = SharedVolume.model_validate(shared_volume)
    labels = {
        "app.kubernetes.io/name": "bigtrain-train",
        "app.kubernetes.io/part-of": "bigtrain",
        "app.kubernetes.io/component": "train",
        "app.kubernetes.io/managed-by": "bigtrain-launcher",
        RUN_LABEL: run,
    }
    variables = {**dict(env or {}), **FIXED_ENV}
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": list(command),
        "env": [{"name": key, "value": value} for key, value in sorted(variables.items())],
        "resources": _resources(size, pool),
        "volumeMounts": [{"name": SHARED_VOLUME, "mountPath": volume.mount_path}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,  # training code never calls the Kubernetes API
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "fsGroup": USER_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": SHARED_VOLUME, "persistentVolumeClaim": {"claimName": volume.pvc}}],
    }
    if pool is not None and pool.node_selector:
        pod_spec["nodeSelector"] = dict(sorted(pool.node_selector.items()))
    if pool is not None and pool.tolerations:
        pod_spec["tolerations"] = [_toleration(t) for t in pool.tolerations]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "runPolicy": {
                "backoffLimit": backoff_limit,
                "activeDeadlineSeconds": active_deadline_seconds,
                # Stop the workers still running when the job ends; keep finished pods (and their logs) until
                # the launcher deletes the job.
                "cleanPodPolicy": "Running",
            },
            "tfReplicaSpecs": {
                REPLICA_TYPE: {
                    "replicas": workers,
                    # A crashed worker restarts in place and resumes from the backup (BackupAndRestore); the
                    # restarts count against backoffLimit.
                    "restartPolicy": "OnFailure",
                    "template": {
                        # An Istio sidecar would keep a finished worker's pod running: none in training pods.
                        "metadata": {"labels": dict(labels), "annotations": {"sidecar.istio.io/inject": "false"}},
                        "spec": pod_spec,
                    },
                }
            },
        },
    }


def job_name(key: str) -> str:
    """The TFJob of the train step with resume key ``key``: the same for every attempt of the step, so a job left
    by an attempt whose launcher died is found (and replaced) instead of running twice on the same backup."""
    return f"{JOB_PREFIX}{key}".lower()


def train_command(request_path: str) -> list[str]:
    """What every worker runs: the one training entry point on the staged request."""
    return ["python3", "-m", TRAIN_MODULE, request_path]


def train_step_manifest(
    key: str,
    request_path: str,
    *,
    workers: int,
    image: str,
    namespace: str,
    service_account: str,
    resources: Mapping[str, Any],
    gpu: Mapping[str, Any] | None,
    shared_pvc: str,
    shared_mount_path: str,
    timeout_seconds: int,
) -> dict[str, Any]:
    """The TFJob of one train step, from the launcher component's parameters (same names): ``workers`` pods of
    ``image`` training ``request_path``, stopped by the operator after ``timeout_seconds``."""
    return tfjob_manifest(
        job_name(key),
        namespace,
        image,
        workers,
        train_command(request_path),
        service_account,
        resources,
        gpu or None,
        {"pvc": shared_pvc, "mount_path": shared_mount_path},
        STEP_ENV,
        run=key,
        active_deadline_seconds=timeout_seconds,
    )
