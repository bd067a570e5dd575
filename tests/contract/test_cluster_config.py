"""The cluster and notify sections: mistakes fail fast naming the field; defaults fill every step."""

from __future__ import annotations

import copy

import pytest

from pipelines.cluster_config import CLUSTER_STEPS, is_digest_reference
from pipelines.config import load_config, parse_config
from tests.conftest import DEMO_CONFIG
from tests.contract.conftest import config_error


def _with(raw: dict, path: str, value: object) -> dict:
    changed = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node = changed
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("cluster.pipeline_root", "/srv/root", "run.yaml: cluster.pipeline_root: '/srv/root' is not an"),
        ("cluster.pipeline_root", "hdfs://x/y", "cluster.pipeline_root: 'hdfs://x/y' is not an object-store URL"),
        ("cluster.data_source", "./data/demo/*.csv", "cluster: data_source './data/demo/*.csv' is a path"),
        ("cluster.data_source", "hdfs://nn/data/*.csv", "cluster: data_source: scheme hdfs:// is not readable"),
        ("cluster.serving.pvc", "Bad_Name", "cluster.serving.pvc: String should match pattern"),
        ("cluster.serving.mount_path", "relative/path", "cluster.serving.mount_path: String should match pattern"),
        ("cluster.resources", {"trian": {"cpu_request": "1"}}, "cluster.resources: unknown step 'trian'"),
        ("cluster.resources", {"train": {"cpu_request": "lots"}}, "cluster.resources.train.cpu_request: 'lots'"),
        ("cluster.resources", {"push": {"memory_limit": "4 gigs"}}, "cluster.resources.push.memory_limit: '4 gigs'"),
        ("cluster.retries", {"count": 99}, "cluster.retries.count: Input should be less than or equal to 10"),
        ("cluster.retries", {"backoff": "30"}, "cluster.retries.backoff: '30' is not a duration"),
        ("cluster.gpu", {"count": 0}, "cluster.gpu.count: Input should be greater than or equal to 1"),
        ("cluster.gpu", {"tolerations": [{"key": "k", "operator": "Equal"}]}, "cluster.gpu.tolerations[0]: give a"),
        ("cluster.object_store", {"secret": "s", "env": {}}, "cluster.object_store: map a key of the Secret"),
        ("cluster.imag", "x", "cluster.imag: unknown field"),
        ("notify.webhook", {"secret": "bigtrain-notify"}, "notify.webhook.key: required field is missing"),
        ("push.serving_root", "gs://b/serving", "push.serving_root: an object-store serving root is not supported"),
        ("training.workers", 0, "training.workers: Input should be greater than or equal to 1"),
    ],
)
def test_cluster_mistakes_name_the_field(raw: dict, path: str, value: object, expected: str):
    assert expected in config_error(_with(raw, path, value))


def test_data_on_a_mounted_volume_is_reachable(raw: dict):
    changed = _with(raw, "cluster.data_source", "/mnt/data/demo/*.csv")
    assert "data_volume.mount_path" in config_error(changed)
    changed["cluster"]["data_volume"] = {"pvc": "bigtrain-data", "mount_path": "/mnt/data"}
    assert parse_config(changed).cluster.data_source == "/mnt/data/demo/*.csv"


def test_resources_fill_every_step_and_keep_overrides(raw: dict):
    config = parse_config(_with(raw, "cluster.resources", {"train": {"cpu_request": "8", "cpu_limit": "8"}}))
    assert set(config.cluster.resources) == set(CLUSTER_STEPS)
    assert config.cluster.resources_for("train").cpu_request == "8"
    assert config.cluster.resources_for("train").memory_limit == "16G"  # unset fields keep the step's default
    assert config.cluster.resources_for("ingest").memory_limit == "16G"


def test_the_shipped_gpu_config_loads():
    config = load_config(DEMO_CONFIG.with_name("gpu-multiworker.yaml"))
    assert config.training.workers == 4 and config.training.mixed_precision
    assert config.cluster.gpu.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}
    assert config.notify.webhook.secret == "bigtrain-notify"
    assert is_digest_reference(config.cluster.image) and is_digest_reference(config.cluster.gpu_image)


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("r.example/bigtrain@sha256:" + "a" * 64, True),
        ("r.example/bigtrain:1.0@sha256:" + "b" * 64, True),
        ("r.example/bigtrain:1.0", False),
        ("r.example/bigtrain@sha256:abc", False),
        ("bigtrain", False),
    ],
)
def test_digest_references(image: str, pinned: bool):
    assert is_digest_reference(image) is pinned
