"""The TFJob of the train step, built from the run config exactly as the DAG and the launcher component build it:
golden files for the demo (CPU, 2 workers) and the GPU config (4 workers x 1 A100), the fields that matter asserted
one by one, the chief rule against the TF_CONFIG the operator writes, and (with kubeflow-training installed) a round
trip through the training SDK's TFJob model.

Regenerate on purpose, never silently: ``BIGTRAIN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/train_cluster``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from components.train.cluster_launcher import REQUEST_FILE, staging_dir
from components.train.tfjob import (
    CONTAINER,
    job_name,
    tfjob_manifest,
    train_step_manifest,
)
from pipelines.config import RunConfig, load_config
from pipelines.dag import tfjob_parameters, trains_as_tfjob
from pipelines.kubeflow.compile import cluster_target
from tests.conftest import REPO

CONFIGS = REPO / "pipelines" / "configs"
GOLDEN_DIR = REPO / "tests" / "golden"
GOLDEN = {"cpu": GOLDEN_DIR / "tfjob_cpu.yaml", "gpu": GOLDEN_DIR / "tfjob_gpu.yaml"}
KEY = "0123456789abcdef"  # a resume key (components.train.request.resume_key gives 16 hex digits)


def _config(name: str) -> RunConfig:
    config = load_config(CONFIGS / {"cpu": "demo.yaml", "gpu": "gpu-multiworker.yaml"}[name], base_dir=Path("/x"))
    if name == "cpu":  # the demo trains in one process; as two CPU workers it launches a TFJob
        config = config.model_copy(update={"training": config.training.model_copy(update={"workers": 2})})
    return config


def _build(name: str, parameters: dict[str, Any] | None = None) -> tuple[RunConfig, dict[str, Any]]:
    config = _config(name)
    target, _ = cluster_target(config)
    assert trains_as_tfjob(config, target)
    request = os.path.join(staging_dir(target.cluster.checkpoint_root, KEY), REQUEST_FILE)
    params = parameters or tfjob_parameters(config, target)
    return config, train_step_manifest(KEY, request, workers=config.training.workers, **params)


def _as_kfp_delivers(value: Any) -> Any:
    """KFP carries dict parameters as protobuf Structs: every number arrives as a float."""
    if isinstance(value, dict):
        return {key: _as_kfp_delivers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_kfp_delivers(item) for item in value]
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _pod(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_manifest_matches_golden(name: str):
    _, manifest = _build(name)
    text = yaml.safe_dump(manifest, sort_keys=False, width=120)
    golden = GOLDEN[name]
    if os.environ.get("BIGTRAIN_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert golden.is_file(), "no golden file: run with BIGTRAIN_UPDATE_GOLDEN=1 once and review it"
    assert text == golden.read_text(), f"the {name} TFJob changed; review the diff and regenerate on purpose"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_parameters_as_kfp_delivers_them_give_the_same_job(name: str):
    config, manifest = _build(name)
    target, _ = cluster_target(config)
    params = {**tfjob_parameters(config, target)}
    params = {key: _as_kfp_delivers(value) if isinstance(value, dict) else value for key, value in params.items()}
    assert _build(name, params)[1] == manifest


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_one_worker_replica_set_and_the_run_policy(name: str):
    config, manifest = _build(name)
    assert manifest["apiVersion"] == "kubeflow.org/v1" and manifest["kind"] == "TFJob"
    assert manifest["metadata"]["name"] == job_name(KEY) == f"bigtrain-train-{KEY}"
    assert manifest["metadata"]["namespace"] == config.cluster.namespace
    # Only Worker replicas: no Chief, PS or Evaluator, so worker 0 is the chief (see the chief-rule test).
    replicas = manifest["spec"]["tfReplicaSpecs"]
    assert list(replicas) == ["Worker"]
    assert replicas["Worker"]["replicas"] == config.training.workers == {"cpu": 2, "gpu": 4}[name]
    assert replicas["Worker"]["restartPolicy"] == "OnFailure"
    assert manifest["spec"]["runPolicy"] == {
        "backoffLimit": 3,
        "activeDeadlineSeconds": config.training.worker_timeout_seconds,
        "cleanPodPolicy": "Running",
    }
    for labels in (manifest["metadata"]["labels"], replicas["Worker"]["template"]["metadata"]["labels"]):
        assert labels["app.kubernetes.io/part-of"] == "bigtrain" and labels["bigtrain/run"] == KEY


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_tensorflow_container_runs_the_staged_request(name: str):
    config, manifest = _build(name)
    pod = _pod(manifest)
    (container,) = pod["containers"]
    assert container["name"] == CONTAINER == "tensorflow"  # the operator puts TF_CONFIG in this container only
    image = config.cluster.gpu_image or config.cluster.image
    assert container["image"] == image
    mount = config.cluster.shared_volume.mount_path
    staged = f"{mount}/.bigtrain/checkpoints/{KEY}/request.json"
    assert container["command"] == ["python3", "-m", "components.train.main", staged]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TF_USE_LEGACY_KERAS"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    assert "TF_CONFIG" not in env  # the operator's to set
    assert container["volumeMounts"] == [{"name": "shared", "mountPath": mount}]
    assert pod["volumes"] == [
        {"name": "shared", "persistentVolumeClaim": {"claimName": config.cluster.shared_volume.pvc}}
    ]
    assert pod["serviceAccountName"] == config.cluster.service_account
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_cpu_workers_get_the_train_resources_and_no_gpu():
    config, manifest = _build("cpu")
    pod = _pod(manifest)
    size = config.cluster.resources_for("train")
    assert pod["containers"][0]["resources"] == {
        "requests": {"cpu": size.cpu_request, "memory": size.memory_request},
        "limits": {"cpu": size.cpu_limit, "memory": size.memory_limit},
    }
    assert "nodeSelector" not in pod and "tolerations" not in pod


def test_gpu_workers_each_get_one_a100_on_the_pool():
    config, manifest = _build("gpu")
    pod = _pod(manifest)
    assert pod["containers"][0]["resources"] == {
        "requests": {"cpu": "8", "memory": "48G"},
        "limits": {"cpu": "12", "memory": "64G", "nvidia.com/gpu": "1"},
    }
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert config.cluster.gpu is not None and config.cluster.gpu.count == 1


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_worker_zero_is_the_chief_of_the_tf_config_the_operator_writes(name: str):
    # training-operator v1.9 genTFConfigJSONStr/genClusterSpec: one "worker" list of <job>-worker-<i>.<ns>.svc:2222
    # and task {type: "worker", index: i}; no "chief" key without a Chief replica. IsMasterRole: Worker index 0.
    from components.train import distribute

    _, manifest = _build(name)
    job, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    workers = manifest["spec"]["tfReplicaSpecs"]["Worker"]["replicas"]
    cluster = {"worker": [f"{job}-worker-{i}.{namespace}.svc:2222" for i in range(workers)]}
    chiefs = [
        index
        for index in range(workers)
        if distribute.is_chief({"cluster": cluster, "task": {"type": "worker", "index": index}, "environment": "cloud"})
    ]
    assert chiefs == [0]
    assert distribute.worker_count({"cluster": cluster}) == workers


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_round_trips_through_the_kubeflow_training_tfjob_model(name: str):
    # Every field has the name and type the training SDK's (OpenAPI-generated) TFJob model knows: an unknown or
    # misspelled field would be dropped, a wrong type or a missing required field would raise.
    training = pytest.importorskip("kubeflow.training")
    _, manifest = _build(name)
    client = training.ApiClient()
    job = client.deserialize(SimpleNamespace(data=json.dumps(manifest)), "KubeflowOrgV1TFJob")
    assert isinstance(job, training.KubeflowOrgV1TFJob)
    assert client.sanitize_for_serialization(job) == manifest


def _minimal(**changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "name": "bigtrain-train-abc",
        "namespace": "bigtrain",
        "image": "bigtrain:test",
        "workers": 2,
        "command": ["python3", "-m", "components.train.main", "/mnt/shared/r.json"],
        "service_account": "runner",
        "resources": {"cpu_request": "1", "cpu_limit": "2", "memory_request": "1G", "memory_limit": "2G"},
        "gpu": None,
        "shared_volume": {"pvc": "shared", "mount_path": "/mnt/shared"},
        "run": "abc",
        "active_deadline_seconds": 60,
    }
    return tfjob_manifest(**{**arguments, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Bigtrain_Train"}, "not a DNS-1035 label"),
        ({"name": "9-train"}, "not a DNS-1035 label"),
        ({"name": "b" * 54, "workers": 64}, "too long"),
        ({"workers": 0}, "at least 1"),
        ({"command": []}, "needs a command"),
        ({"run": "not a label value!"}, "not a label value"),
        ({"resources": {"cpu_request": "1"}}, "cpu_limit"),
        ({"gpu": {"accelerator": "nvidia.com/gpu", "count": 1, "zone": "x"}}, "zone"),
    ],
)
def test_refuses_what_the_operator_or_kubernetes_would_refuse(changes: dict[str, Any], message: str):
    with pytest.raises(ValueError, match=message):
        _minimal(**changes)


def test_caller_env_cannot_switch_keras_and_output_has_no_shared_objects():
    manifest = _minimal(env={"TF_USE_LEGACY_KERAS": "0", "EXTRA": "1"})
    env = {e["name"]: e["value"] for e in _pod(manifest)["containers"][0]["env"]}
    assert env == {"EXTRA": "1", "PYTHONUNBUFFERED": "1", "TF_USE_LEGACY_KERAS": "1"}
    assert "&id" not in yaml.safe_dump(manifest)  # no YAML anchors: every mapping is its own object
