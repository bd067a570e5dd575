"""The train launcher component end to end against the fake Kubernetes API: what it stages on the shared volume
for the job's pods, the TFJob it creates, what it brings back, and what it leaves for a retry. The fake's
``on_create`` plays the chief (writes the model and result.json where the staged request says); no TensorFlow runs.
This proves the requests and the files, not the cluster."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kfp.dsl import Artifact, Dataset, Model
from kubernetes.client import Configuration

from beam_jobs.contract import Cross, parse_columns
from components.train.cluster_component import train_on_cluster
from components.train.cluster_launcher import TrainingJobFailed, stage, staged_request
from components.train.request import TrainRequest, resume_key
from components.train.settings import ModelSettings, TrainingSettings
from tests.train_cluster.fake_k8s import SUCCEEDED, FakeKubernetes, FakePod, failed

MODEL = {"hidden_units": [8], "dropout": 0.0}
TRAINING = {"epochs": 2, "workers": 2}
RESULT = {"best_eval_auc": 0.81, "epochs_run": 2, "best_epoch": 2, "workers": 2, "chief": True}
COLUMNS = {
    "x": {"type": "float"},
    "c": {"type": "string", "transform": {"hash": 4}},
    "k": {"type": "int"},
    "y": {"type": "int", "role": "label"},
}
CROSSES = [Cross(cross=["c", "k"], hash=8)]


@pytest.fixture
def k8s(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubernetes]:
    """The fake API, and in-cluster configuration pointing at it."""
    # Succeeded at the first look: the component polls every 10 s (tests/train_cluster/test_launcher.py follows
    # the states one by one).
    with FakeKubernetes(default_states=[SUCCEEDED]) as server:
        monkeypatch.setattr(Configuration, "_default", None)
        monkeypatch.setattr(
            kubernetes.config,
            "load_incluster_config",
            lambda: Configuration.set_default(Configuration(host=server.url)),
        )
        yield server


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    """The shared volume as mounted in the launcher (and, in the cluster, in every worker)."""
    return tmp_path / "mnt" / "shared"


def _inputs(tmp_path: Path) -> dict[str, Any]:
    transformed = tmp_path / "artifacts" / "transformed"
    (transformed / "train").mkdir(parents=True)
    (transformed / "train" / "part-00000.gz").write_bytes(b"train rows")
    (transformed / "eval").mkdir()
    (transformed / "eval" / "part-00000.gz").write_bytes(b"eval rows")
    graph = tmp_path / "artifacts" / "transform_graph"
    (graph / "transform_fn").mkdir(parents=True)
    (graph / "transform_fn" / "saved_model.pb").write_bytes(b"graph")
    return {
        "transformed": Dataset(uri=str(transformed), metadata={"train_rows": 1200}),
        "transform_graph": Artifact(uri=str(graph)),
        "model": Model(uri=str(tmp_path / "artifacts" / "model")),
        "training_logs": Artifact(uri=str(tmp_path / "artifacts" / "training_logs")),
    }


def _run(tmp_path: Path, volume: Path, **changes: Any) -> tuple[float, dict[str, Any]]:
    arguments = {
        **_inputs(tmp_path),
        "columns": COLUMNS,
        "crosses": [cross.model_dump() for cross in CROSSES],
        "model_settings": MODEL,
        "training_settings": TRAINING,
        "warm_start_from": "",
        "checkpoint_root": str(volume / ".bigtrain" / "checkpoints"),
        "code_version": "code-1",
        "data_fingerprint": "data-1",
        "image": "registry.example.com/bigtrain-gpu@sha256:" + "1" * 64,
        "namespace": "bigtrain",
        "service_account": "bigtrain-pipeline-runner",
        "resources": {"cpu_request": "1", "cpu_limit": "2", "memory_request": "1G", "memory_limit": "2G"},
        "gpu": {},
        "shared_pvc": "bigtrain-shared",
        "shared_mount_path": str(volume),
        "timeout_seconds": 600,
        **changes,
    }
    return train_on_cluster(**arguments), arguments


def _key(tmp_path: Path, warm_start_from: str = "") -> str:
    """The resume key of the step ``_run`` runs (its inputs are ``_inputs``' artifacts)."""
    return resume_key(
        "code-1",
        "data-1",
        ModelSettings(**MODEL),
        TrainingSettings(**TRAINING),
        CROSSES,
        columns=parse_columns(COLUMNS),
        inputs=[str(tmp_path / "artifacts" / "transformed"), str(tmp_path / "artifacts" / "transform_graph")],
        warm_start_from=warm_start_from,
    )


def _play_chief(seen: list[TrainRequest], result: dict[str, Any] | None = RESULT):
    """What the job's pods would do: read the staged request, leave a backup, and (chief) the model and result."""

    def on_create(job: dict[str, Any]) -> None:
        command = job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["command"]
        request = TrainRequest.read(command[-1])
        seen.append(request)
        Path(request.backup_dir).mkdir(parents=True, exist_ok=True)
        (Path(request.backup_dir) / "chief").write_text("epoch 1")
        if result is not None:
            Path(request.model_dir).mkdir(parents=True)
            (Path(request.model_dir) / "saved_model.pb").write_bytes(b"model")
            Path(request.logs_dir).mkdir(parents=True, exist_ok=True)
            (Path(request.logs_dir) / "result.json").write_text(json.dumps(result))

    return on_create


def test_stages_on_the_shared_volume_runs_the_job_and_brings_the_model_back(
    k8s: FakeKubernetes, tmp_path: Path, volume: Path
):
    seen: list[TrainRequest] = []
    k8s.on_create = _play_chief(seen)
    auc, arguments = _run(tmp_path, volume)
    assert auc == pytest.approx(0.81)
    staging = volume / ".bigtrain" / "checkpoints" / _key(tmp_path)
    (request,) = seen
    # Everything the pods read or write lies on the shared volume, in the step's staging directory.
    assert request.transformed_dir == str(staging / "transformed")
    assert request.transform_graph_dir == str(staging / "transform_graph")
    assert (request.model_dir, request.logs_dir) == (str(staging / "model"), str(staging / "logs"))
    assert request.backup_dir == str(staging / "backup")
    assert request.train_examples == 1200 and request.training.workers == 2 and request.warm_start_from == ""
    assert request.columns == COLUMNS and request.crosses == CROSSES  # what every pod builds its model from
    (create,) = k8s.calls("POST")
    pod = create.body["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    assert create.body["metadata"]["name"] == f"bigtrain-train-{_key(tmp_path)}"
    assert create.body["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 2
    assert pod["containers"][0]["command"] == ["python3", "-m", "components.train.main", str(staging / "request.json")]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "bigtrain-shared"
    assert create.body["spec"]["runPolicy"]["activeDeadlineSeconds"] == 600
    assert len(k8s.calls("DELETE")) == 1
    # Outputs copied back to the step's artifacts, metadata as the local step records it, staging gone.
    model, logs = arguments["model"], arguments["training_logs"]
    assert (Path(model.path) / "saved_model.pb").read_bytes() == b"model"
    assert json.loads((Path(logs.path) / "result.json").read_text()) == RESULT
    assert model.metadata == {"framework": "tensorflow", "best_eval_auc": 0.81}
    assert logs.metadata == RESULT
    assert not staging.exists()


def test_a_failed_job_keeps_only_the_backup_for_the_next_attempt(k8s: FakeKubernetes, tmp_path: Path, volume: Path):
    seen: list[TrainRequest] = []
    k8s.on_create = _play_chief(seen, result=None)
    name = f"bigtrain-train-{_key(tmp_path)}"
    k8s.script(name, [failed()], pods=[FakePod(f"{name}-worker-0", "ValueError: bad batch", exit_code=1)])
    with pytest.raises(TrainingJobFailed, match="ValueError: bad batch"):
        _run(tmp_path, volume)
    staging = volume / ".bigtrain" / "checkpoints" / _key(tmp_path)
    assert (staging / "backup" / "chief").read_text() == "epoch 1"
    for gone in ("transformed", "transform_graph", "model"):
        assert not (staging / gone).exists(), gone
    assert len(k8s.calls("DELETE")) == 1


def test_a_job_that_succeeds_without_the_chiefs_output_fails_clearly(k8s: FakeKubernetes, tmp_path: Path, volume: Path):
    k8s.on_create = _play_chief([], result=None)
    with pytest.raises(RuntimeError, match=r"left no model or no result\.json"):
        _run(tmp_path, volume)


def test_warm_start_model_is_staged_too(k8s: FakeKubernetes, tmp_path: Path, volume: Path):
    baseline = volume / "demo" / "3"
    (baseline / "bigtrain").mkdir(parents=True)
    (baseline / "bigtrain" / "weights.h5").write_bytes(b"weights")
    seen: list[TrainRequest] = []
    k8s.on_create = _play_chief(seen)
    _run(tmp_path, volume, warm_start_from=str(baseline))
    staged = Path(seen[0].warm_start_from)
    assert staged == volume / ".bigtrain" / "checkpoints" / _key(tmp_path, str(baseline)) / "warm_start"


def test_warm_start_model_not_visible_here_trains_from_scratch_and_says_so(
    k8s: FakeKubernetes, tmp_path: Path, volume: Path, capsys: pytest.CaptureFixture[str]
):
    seen: list[TrainRequest] = []
    k8s.on_create = _play_chief(seen)
    _run(tmp_path, volume, warm_start_from="/mnt/serving/demo/3")
    assert seen[0].warm_start_from == ""
    assert (
        "warm start: /mnt/serving/demo/3 is not visible in this pod; training from scratch" in capsys.readouterr().out
    )


def test_checkpoint_root_off_the_shared_volume_is_refused_before_any_request(
    k8s: FakeKubernetes, tmp_path: Path, volume: Path
):
    with pytest.raises(ValueError, match="is not on the shared volume mounted at"):
        _run(tmp_path, volume, checkpoint_root=str(tmp_path / "elsewhere"))
    assert k8s.requests == []


def test_retried_step_replaces_stale_inputs_but_keeps_its_backup(tmp_path: Path):
    staging = tmp_path / "staging"
    (staging / "backup").mkdir(parents=True)
    (staging / "backup" / "state").write_text("epoch 3")
    (staging / "transformed" / "train").mkdir(parents=True)
    (staging / "transformed" / "train" / "stale-part").write_text("old")
    source = tmp_path / "t"
    (source / "train").mkdir(parents=True)
    (source / "train" / "part-0").write_text("new")
    request = TrainRequest(
        transformed_dir=str(source),
        transform_graph_dir=str(source),
        columns={},
        model=ModelSettings(),
        training=TrainingSettings(),
        model_dir="/out/model",
        logs_dir="/out/logs",
        backup_dir=str(staging / "backup"),
    )
    path = stage(request, str(staging), log=io.StringIO())
    assert TrainRequest.read(path) == staged_request(request, str(staging))
    assert sorted(p.name for p in (staging / "transformed" / "train").iterdir()) == ["part-0"]
    assert (staging / "backup" / "state").read_text() == "epoch 3"
