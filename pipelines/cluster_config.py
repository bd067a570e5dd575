"""The ``cluster:`` and ``notify:`` sections of the run config: where and how the DAG runs on Kubeflow.

Only ``bigtrain compile``/``submit``/``schedule`` read them; ``bigtrain run`` ignores them. Every location here
must be reachable from a pod: an object-store URL or a path under a mounted PersistentVolumeClaim.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The DAG's steps in order, and its exit handler. Each pod gets resources; "train" is the one on the GPU pool.
# "resolve-warm-start" exists only when training.warm_start is on.
PIPELINE_STEPS = (
    "resolve-data",
    "ingest",
    "validate-data",
    "preprocess",
    "resolve-warm-start",
    "train",
    "resolve-baseline",
    "evaluate",
    "push",
    "summarize",
)
# Read or write the registry (serving volume); never cached. validate-data compares with the served model's data.
REGISTRY_STEPS = ("validate-data", "resolve-warm-start", "resolve-baseline", "push")
EXIT_STEP = "finalize"
CLUSTER_STEPS = (*PIPELINE_STEPS, EXIT_STEP)
# Steps whose failures may be passing storage trouble. Not validate-data: its failure is a verdict on the data.
RETRIED_STEPS = ("resolve-data", "ingest", *(step for step in REGISTRY_STEPS if step != "validate-data"))
DATA_SCHEMES = ("gs", "s3")
PIPELINE_ROOT_SCHEMES = ("gs", "s3", "minio")

_K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_CPU = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$")
_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_DURATION = re.compile(r"^[0-9]+s$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def url_scheme(location: str) -> str | None:
    """``gs`` for ``gs://b/p``; None for a plain path."""
    match = re.match(r"^([a-z][a-z0-9+.-]*)://", location)
    return match.group(1) if match else None


def is_digest_reference(image: str) -> bool:
    """True for ``registry/name@sha256:<64 hex>``: an image that cannot change under the same reference."""
    return bool(_DIGEST.search(image))


class Resources(_Section):
    """CPU and memory of one step's pod (Kubernetes quantities)."""

    cpu_request: str = "1"
    cpu_limit: str = "2"
    memory_request: str = "2G"
    memory_limit: str = "4G"

    @field_validator("cpu_request", "cpu_limit")
    @classmethod
    def _cpu(cls, value: str) -> str:
        if not _CPU.match(value):
            raise ValueError(f"{value!r} is not a CPU quantity like '500m' or '2'")
        return value

    @field_validator("memory_request", "memory_limit")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError(f"{value!r} is not a memory quantity like '512Mi' or '4G'")
        return value


def _default_resources() -> dict[str, Resources]:
    heavy = Resources(cpu_request="2", cpu_limit="4", memory_request="8G", memory_limit="16G")
    light = Resources(cpu_request="250m", cpu_limit="1", memory_request="512M", memory_limit="2G")
    small = ("resolve-data", "validate-data", "resolve-warm-start", "resolve-baseline", "summarize", EXIT_STEP)
    sizes = {step: light for step in small}
    sizes["push"] = Resources()
    return {step: sizes.get(step, heavy) for step in CLUSTER_STEPS}


class RetryPolicy(_Section):
    """Retries with exponential backoff for the steps that talk to outside storage."""

    count: int = Field(default=3, ge=0, le=10)
    backoff: str = "30s"
    factor: float = Field(default=2.0, ge=1.0)
    max_backoff: str = "600s"

    @field_validator("backoff", "max_backoff")
    @classmethod
    def _seconds(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError(f"{value!r} is not a duration in seconds like '30s'")
        return value


class Toleration(_Section):
    """A pod toleration for a node-pool taint."""

    key: str = Field(min_length=1)
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    @model_validator(mode="after")
    def _value_matches_operator(self) -> Toleration:
        if (self.operator == "Equal") != (self.value is not None):
            raise ValueError("give a value with operator Equal, and none with Exists")
        return self


class GpuPool(_Section):
    """The GPU node pool the train step runs on."""

    accelerator: str = Field(default="nvidia.com/gpu", min_length=1, description="extended resource name")
    count: int = Field(default=1, ge=1, description="GPUs per training process")
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)


class VolumeMount(_Section):
    """A PersistentVolumeClaim mounted into the steps that need it."""

    pvc: str = Field(pattern=_K8S_NAME)
    mount_path: str = Field(pattern=r"^/[^\s]*$", description="absolute path in the pod")


class CredentialsFile(_Section):
    """A key of the object-store Secret mounted as a file, with an environment variable naming the file."""

    key: str = Field(min_length=1, description="key in the Secret, e.g. key.json")
    env: str = Field(default="GOOGLE_APPLICATION_CREDENTIALS", min_length=1)
    mount_path: str = Field(default="/var/secrets/object-store", pattern=r"^/[^\s]*$")


class ObjectStore(_Section):
    """Object-store credentials from a Kubernetes Secret: keys as environment variables and/or a mounted file."""

    secret: str = Field(pattern=_K8S_NAME)
    env: dict[str, str] = Field(
        default_factory=lambda: {key: key for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
        description="environment variable -> key in the Secret",
    )
    credentials_file: CredentialsFile | None = None
    endpoint: str | None = Field(default=None, description="S3-compatible endpoint URL (MinIO, SeaweedFS), not secret")

    @model_validator(mode="after")
    def _some_credentials(self) -> ObjectStore:
        if not self.env and self.credentials_file is None:
            raise ValueError("map a key of the Secret to an environment variable (env) or mount one (credentials_file)")
        return self


class SecretKey(_Section):
    """One key of a Kubernetes Secret."""

    secret: str = Field(pattern=_K8S_NAME)
    key: str = Field(min_length=1)


class ClusterConfig(_Section):
    """Where the DAG runs on Kubeflow. Read by ``bigtrain compile``, ``submit`` and ``schedule``."""

    image: str | None = Field(default=None, description="component image, ideally name@sha256:...; --image overrides")
    gpu_image: str | None = Field(default=None, description="image of the train step on the GPU pool (default: image)")
    namespace: str = Field(default="bigtrain", pattern=_K8S_NAME)
    service_account: str = Field(default="bigtrain-pipeline-runner", pattern=_K8S_NAME)
    experiment: str | None = Field(default=None, min_length=1, description="KFP experiment (default: bigtrain-<name>)")
    pipeline_root: str
    data_source: str = Field(min_length=1, description="the data glob as the pods see it")
    data_volume: VolumeMount | None = None
    serving: VolumeMount
    shared: VolumeMount | None = Field(
        default=None, description="ReadWriteMany volume for training checkpoints (default: the serving volume)"
    )
    object_store: ObjectStore | None = None
    resources: dict[str, Resources] = Field(default_factory=_default_resources)
    retries: RetryPolicy = RetryPolicy()
    gpu: GpuPool | None = None
    launcher_resources: Resources = Field(
        default=Resources(cpu_request="250m", cpu_limit="1", memory_request="1G", memory_limit="4G"),
        description="the train step's own pod when it launches a TFJob (the job's pods get resources.train)",
    )

    @field_validator("pipeline_root")
    @classmethod
    def _object_store_root(cls, root: str) -> str:
        if url_scheme(root) not in PIPELINE_ROOT_SCHEMES:
            schemes = ", ".join(s + "://" for s in PIPELINE_ROOT_SCHEMES)
            raise ValueError(f"{root!r} is not an object-store URL ({schemes})")
        return root

    @field_validator("resources", mode="before")
    @classmethod
    def _over_defaults(cls, resources: object) -> object:
        """A step's fields override that step's defaults one by one; unknown steps are refused by name."""
        if not isinstance(resources, dict):
            return resources
        unknown = sorted(set(resources) - set(CLUSTER_STEPS))
        if unknown:
            raise ValueError(f"unknown step {unknown[0]!r}; steps are {', '.join(CLUSTER_STEPS)}")
        defaults = _default_resources()
        return {
            step: {**defaults[step].model_dump(), **given} if isinstance(given, dict) else given
            for step, given in {**defaults, **resources}.items()
        }

    @model_validator(mode="after")
    def _data_reachable_from_pods(self) -> ClusterConfig:
        scheme = url_scheme(self.data_source)
        if scheme is None:
            volume = self.data_volume
            if volume is None or not self.data_source.startswith(volume.mount_path.rstrip("/") + "/"):
                raise ValueError(
                    f"data_source {self.data_source!r} is a path: it must be an object-store URL "
                    f"({', '.join(s + '://' for s in DATA_SCHEMES)}) or lie under data_volume.mount_path"
                )
        elif scheme not in DATA_SCHEMES:
            raise ValueError(f"data_source: scheme {scheme}:// is not readable by Beam here; use gs:// or s3://")
        return self

    @property
    def shared_volume(self) -> VolumeMount:
        """The volume the train step keeps its resumable state on."""
        return self.shared or self.serving

    @property
    def checkpoint_root(self) -> str:
        """Where train steps keep their backup, one directory per step cache key, on the shared volume."""
        return f"{self.shared_volume.mount_path.rstrip('/')}/.bigtrain/checkpoints"

    def resources_for(self, step: str) -> Resources:
        """The resources of one step (defaults filled in)."""
        return self.resources[step]


class NotifyConfig(_Section):
    """Where the final status of a run is posted. The URL itself is a secret: on Kubeflow it comes from a Secret,
    locally from the ``BIGTRAIN_WEBHOOK_URL`` environment variable."""

    webhook: SecretKey | None = None
