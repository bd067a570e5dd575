"""The shipped run configs and the manifests name the same cluster objects, so a compiled run finds them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipelines.config import load_config
from tests.conftest import REPO
from tests.manifests.kustomize import render

CONFIGS = {"demo.yaml": "overlays/object-store", "gpu-multiworker.yaml": "overlays/gpu-node-pool"}


def _named(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize(("config_file", "overlay"), sorted(CONFIGS.items()))
def test_config_names_the_overlays_objects(config_file: str, overlay: str):
    cluster = load_config(REPO / "pipelines" / "configs" / config_file).cluster
    objects = render(overlay)
    assert {o["metadata"].get("namespace", cluster.namespace) for o in objects if o["kind"] != "Namespace"} == {
        cluster.namespace
    }
    assert cluster.service_account in _named(objects, "ServiceAccount")
    binding = _named(objects, "RoleBinding")[cluster.service_account]
    account = {"kind": "ServiceAccount", "name": cluster.service_account, "namespace": cluster.namespace}
    assert binding["subjects"] == [account]
    claim = _named(objects, "PersistentVolumeClaim")[cluster.serving.pvc]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_demo_config_uses_the_object_store_overlays_minio():
    cluster = load_config(REPO / "pipelines" / "configs" / "demo.yaml").cluster
    objects = render("overlays/object-store")
    launcher = _named(objects, "ConfigMap")["kfp-launcher"]["data"]
    assert launcher["defaultPipelineRoot"] == cluster.pipeline_root
    service = _named(objects, "Service")["bigtrain-minio"]
    port = service["spec"]["ports"][0]["port"]
    assert cluster.object_store.endpoint == f"http://bigtrain-minio.{cluster.namespace}.svc.cluster.local:{port}"
    minio = _named(objects, "Deployment")["bigtrain-minio"]["spec"]["template"]["spec"]["containers"][0]
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in minio["env"] if "valueFrom" in e}
    assert secrets == {cluster.object_store.secret}


def test_gpu_config_matches_the_node_pool_defaults():
    gpu = load_config(REPO / "pipelines" / "configs" / "gpu-multiworker.yaml").cluster.gpu
    defaults = _named(render("overlays/gpu-node-pool"), "ConfigMap")["bigtrain-defaults"]["data"]
    assert defaults["gpu_resource"] == gpu.accelerator
    assert json.loads(defaults["gpu_node_selector"]) == gpu.node_selector
    tolerations = json.loads(defaults["gpu_tolerations"])
    assert tolerations == [t.model_dump(exclude_none=True) for t in gpu.tolerations]
