"""Golden compile tests: the demo and GPU pipelines compile to exactly the checked-in KFP IR YAML, and the
cluster settings in them are the ones the config asks for.

Regenerate on purpose, never silently: ``BIGTRAIN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import components

from components.train.tfjob import USER_ID
from pipelines.cluster_config import REGISTRY_STEPS, RETRIED_STEPS
from pipelines.config import RunConfig, load_config
from pipelines.dag import EXIT_STEP, UNCACHED_STEPS, VERSIONED_STEPS, code_parameter, pipeline_steps
from pipelines.kubeflow.compile import compile_for_cluster
from tests.conftest import REPO

CONFIGS = REPO / "pipelines" / "configs"
FIXED_CODE = {code_parameter(step): f"{step}-code" for step in VERSIONED_STEPS}
DEMO_IMAGE = "registry.example.com/bigtrain@sha256:" + "0" * 64
GOLDEN = {"demo": Path(__file__).with_name("demo_pipeline.yaml"), "gpu": Path(__file__).with_name("gpu_pipeline.yaml")}
CONFIG_FILES = {"demo": "demo.yaml", "gpu": "gpu-multiworker.yaml"}  # gpu warm-starts: it has resolve-warm-start
# A hyperparameter search: suggest, a ParallelFor of train tasks, select. Its own golden file and checks.
TUNING_GOLDEN = Path(__file__).with_name("tuning_pipeline.yaml")
CONFIG_FILES["tuning"] = "tuning.yaml"


def _config(name: str) -> RunConfig:
    return load_config(CONFIGS / CONFIG_FILES[name], base_dir=Path("/compiling-machine"))


def _cluster_steps(name: str) -> tuple[str, ...]:
    """Every step of that pipeline, its exit handler included."""
    return (*pipeline_steps(_config(name)), EXIT_STEP)


def normalize(text: str) -> str:
    """Drop what legitimately varies between machines and SDK patch releases."""
    return re.sub(r"sdkVersion: kfp-[\w.]+", "sdkVersion: kfp-X", text)


def _compile(name: str, out: Path) -> str:
    compile_for_cluster(_config(name), out, image=DEMO_IMAGE if name == "demo" else None, code=FIXED_CODE)
    return normalize(out.read_text())


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("compiled")
    return {name: _compile(name, out / f"{name}.yaml") for name in GOLDEN}


def _docs(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    spec, platform = yaml.safe_load_all(text)
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def _inner_tasks(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_compiled_pipeline_matches_golden(compiled: dict[str, str], name: str):
    golden = GOLDEN[name]
    if os.environ.get("BIGTRAIN_UPDATE_GOLDEN") == "1":
        golden.write_text(compiled[name])
    assert golden.is_file(), "no golden file: run with BIGTRAIN_UPDATE_GOLDEN=1 once and review it"
    assert compiled[name] == golden.read_text(), f"{name} pipeline changed; review the diff and regenerate on purpose"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_compiled_file_loads_back_with_kfp(name: str):
    component = components.load_component_from_file(str(GOLDEN[name]))
    assert component.name.startswith("bigtrain-demo")
    assert {"ingest_code", "train_code", "source", "serving_root"} <= set(component.component_spec.inputs)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_every_step_inside_the_exit_handler_and_cached_only_when_deterministic(compiled: dict[str, str], name: str):
    spec, _ = _docs(compiled[name])
    assert set(spec["root"]["dag"]["tasks"]) == {"exit-handler-1", EXIT_STEP}
    assert spec["root"]["dag"]["tasks"][EXIT_STEP]["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    tasks = _inner_tasks(spec)
    assert set(tasks) == set(pipeline_steps(_config(name)))
    for step, task in tasks.items():
        assert task.get("cachingOptions", {}).get("enableCache", False) is (step not in UNCACHED_STEPS), step
    for step in VERSIONED_STEPS:
        params = tasks[step]["inputs"]["parameters"]
        assert params["code_version"]["componentInputParameter"] == f"pipelinechannel--{code_parameter(step)}"
        assert params["data_fingerprint"]["taskOutputParameter"] == {
            "outputParameterKey": "fingerprint",
            "producerTask": "resolve-data",
        }
    assert tasks["ingest"]["inputs"]["parameters"]["sources"]["taskOutputParameter"]["producerTask"] == "resolve-data"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_resources_and_retries_per_step(compiled: dict[str, str], name: str):
    spec, _ = _docs(compiled[name])
    config = _config(name)
    executors = spec["deploymentSpec"]["executors"]
    for step in _cluster_steps(name):
        resources = executors[f"exec-{step}"]["container"]["resources"]
        # On the GPU config train launches a TFJob: its own pod is small, the job's pods get resources.train.
        launcher = name == "gpu" and step == "train"
        want = config.cluster.launcher_resources if launcher else config.cluster.resources_for(step)
        assert resources["resourceCpuRequest"] == want.cpu_request and resources["resourceCpuLimit"] == want.cpu_limit
        assert resources["resourceMemoryRequest"] == want.memory_request
        assert resources["resourceMemoryLimit"] == want.memory_limit
    tasks = _inner_tasks(spec)
    for step in pipeline_steps(config):
        policy = tasks[step].get("retryPolicy")
        if step in RETRIED_STEPS:
            assert policy["maxRetryCount"] == config.cluster.retries.count, step
            assert policy["backoffDuration"] == config.cluster.retries.backoff
            assert policy["backoffFactor"] == config.cluster.retries.factor
        else:
            assert policy is None, step


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_every_step_pod_runs_as_the_images_non_root_user(compiled: dict[str, str], name: str):
    _, platform = _docs(compiled[name])
    for step in _cluster_steps(name):
        context = platform[f"exec-{step}"]["securityContext"]
        # int64 fields are strings in the protobuf JSON of the platform spec
        assert context == {"runAsNonRoot": True, "runAsUser": str(USER_ID), "runAsGroup": str(USER_ID)}, step


def test_demo_reads_minio_with_credentials_from_the_secret(compiled: dict[str, str]):
    spec, platform = _docs(compiled["demo"])
    assert spec["defaultPipelineRoot"] == "minio://bigtrain/pipeline-root"
    defaults = spec["root"]["inputDefinitions"]["parameters"]
    assert defaults["source"]["defaultValue"] == "s3://bigtrain/demo/*.csv"
    assert defaults["serving_root"]["defaultValue"] == "/mnt/serving"
    for step in _cluster_steps("demo"):
        executor = platform[f"exec-{step}"]
        keys = {(e["envVar"], e["secretKey"]) for s in executor["secretAsEnv"] for e in s["keyToEnv"]}
        assert {("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"), ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY")} <= keys
        env = {e["name"]: e["value"] for e in spec["deploymentSpec"]["executors"][f"exec-{step}"]["container"]["env"]}
        assert env["AWS_ENDPOINT_URL"] == "http://bigtrain-minio.bigtrain.svc.cluster.local:9000"
        assert env["TF_USE_LEGACY_KERAS"] == "1"
        assert spec["deploymentSpec"]["executors"][f"exec-{step}"]["container"]["image"] == DEMO_IMAGE
        mounts = {(m["constant"], m["mountPath"]) for m in executor.get("pvcMount", [])}
        # The registry for resolve-baseline and push; the shared volume (default: the same claim) for train.
        mounted = step in (*REGISTRY_STEPS, "train")
        assert mounts == ({("bigtrain-serving", "/mnt/serving")} if mounted else set()), step


def test_gpu_pipeline_launches_train_as_a_tfjob_on_the_a100_pool(compiled: dict[str, str]):
    spec, platform = _docs(compiled["gpu"])
    assert spec["defaultPipelineRoot"] == "gs://example-bigtrain/pipeline-root"
    executors = spec["deploymentSpec"]["executors"]
    # 4 workers on GPUs: the train task is a CPU launcher of a TFJob; the job's pods get the image and the pool.
    train = executors["exec-train"]["container"]
    assert "--function_to_execute" in train["args"] and "train_on_cluster" in train["args"]
    assert train["image"] == "ghcr.io/example/bigtrain@sha256:" + "0" * 64
    assert _inner_tasks(spec)["train"]["taskInfo"] == {"name": "train"}
    parameters = _inner_tasks(spec)["train"]["inputs"]["parameters"]
    job = {key: value["runtimeValue"]["constant"] for key, value in parameters.items() if "runtimeValue" in value}
    assert job["image"] == "ghcr.io/example/bigtrain-gpu@sha256:" + "1" * 64
    assert job["gpu"] == {
        "accelerator": "nvidia.com/gpu",
        "count": 1.0,  # a Struct number
        "node_selector": {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"},
        "tolerations": [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}],
    }
    assert job["resources"] == {"cpu_request": "8", "cpu_limit": "12", "memory_request": "48G", "memory_limit": "64G"}
    assert (job["namespace"], job["service_account"]) == ("bigtrain", "bigtrain-pipeline-runner")
    assert (job["shared_pvc"], job["shared_mount_path"]) == ("bigtrain-serving", "/mnt/serving")
    assert job["timeout_seconds"] == 21600
    assert job["training_settings"]["workers"] == 4
    assert "resolve-warm-start" in _inner_tasks(spec)  # warm start: a registry lookup before train
    train_inputs = _inner_tasks(spec)["train"]["inputs"]["parameters"]
    assert train_inputs["warm_start_from"]["taskOutputParameter"]["producerTask"] == "resolve-warm-start"
    for step in _cluster_steps("gpu"):
        assert "accelerator" not in executors[f"exec-{step}"]["container"]["resources"], step
        assert "nodeSelector" not in platform[f"exec-{step}"] and "tolerations" not in platform[f"exec-{step}"], step
        assert not executors[f"exec-{step}"]["container"]["image"].startswith("ghcr.io/example/bigtrain-gpu")
    # A mounted key file for gs://, the webhook URL from its own Secret in summarize and finalize only.
    for step in _cluster_steps("gpu"):
        volumes = platform[f"exec-{step}"]["secretAsVolume"]
        assert volumes[0]["secretName"] == "bigtrain-gcs-key" and volumes[0]["mountPath"] == "/var/secrets/object-store"
        env = {e["name"]: e["value"] for e in executors[f"exec-{step}"]["container"]["env"]}
        assert env["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/secrets/object-store/key.json"
        webhook = [e for s in platform[f"exec-{step}"].get("secretAsEnv", []) for e in s["keyToEnv"]]
        url_env = [{"envVar": "BIGTRAIN_WEBHOOK_URL", "secretKey": "webhook-url"}]
        assert webhook == (url_env if step in ("summarize", EXIT_STEP) else []), step
    source = spec["root"]["inputDefinitions"]["parameters"]["source"]["defaultValue"]
    assert source == "gs://example-bigtrain/data/demo/span-{SPAN}/*.csv"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_nothing_of_the_compiling_machine_leaks(compiled: dict[str, str], name: str):
    text = compiled[name]
    for local in ("/compiling-machine", str(REPO), os.path.expanduser("~"), "data/demo/*.csv\n"):
        assert local not in text, local
    spec, _ = _docs(text)
    for executor in spec["deploymentSpec"]["executors"].values():
        for env in executor["container"].get("env", []):
            assert not re.search(r"(SECRET|PASSWORD|TOKEN|ACCESS_KEY)", env["name"]), f"literal {env['name']}"


def test_no_secret_value_reaches_a_compiled_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    secrets = {
        "AWS_ACCESS_KEY_ID": "AKIA-LEAK-CANARY-1",
        "AWS_SECRET_ACCESS_KEY": "leak-canary-secret-2",
        "BIGTRAIN_WEBHOOK_URL": "https://hooks.example.com/leak-canary-3",
        "KF_PIPELINES_TOKEN": "leak-canary-token-4",
    }
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    for name in GOLDEN:
        text = _compile(name, tmp_path / f"{name}.yaml")
        leaked = [value for value in secrets.values() if value in text]
        assert not leaked, f"{name}: {leaked}"


@pytest.fixture(scope="module")
def tuning_compiled(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _compile("tuning", tmp_path_factory.mktemp("tuning") / "tuning.yaml")


def test_tuning_pipeline_matches_golden(tuning_compiled: str):
    if os.environ.get("BIGTRAIN_UPDATE_GOLDEN") == "1":
        TUNING_GOLDEN.write_text(tuning_compiled)
    assert TUNING_GOLDEN.is_file(), "no golden file: run with BIGTRAIN_UPDATE_GOLDEN=1 once and review it"
    assert tuning_compiled == TUNING_GOLDEN.read_text(), "tuning pipeline changed; review the diff and regenerate"


def test_tuning_trains_each_trial_in_a_parallel_for_between_suggest_and_select(tuning_compiled: str):
    spec, _ = _docs(tuning_compiled)
    config = _config("tuning")
    tasks = _inner_tasks(spec)
    loops = [name for name in tasks if name.startswith("for-loop-")]
    assert len(loops) == 1 and "train" not in tasks
    loop = tasks[loops[0]]
    assert loop["iteratorPolicy"]["parallelismLimit"] == config.tuning.parallelism == 2
    assert loop["parameterIterator"]["items"]["inputParameter"].endswith("suggest-Output")
    assert "suggest" in loop["dependentTasks"]
    # Each trial is one train task fed the trial's settings; every train input but the two settings is today's.
    trial = spec["components"][f"comp-{loops[0]}"]["dag"]["tasks"]["train"]
    assert trial["cachingOptions"]["enableCache"] is True
    parameters = trial["inputs"]["parameters"]
    # The data fingerprint and warm-start path travel in the item too (kfp.local replaces outside task outputs).
    for name in ("model_settings", "training_settings", "data_fingerprint", "warm_start_from"):
        assert parameters[name]["parameterExpressionSelector"] == f'parseJson(string_value)["{name}"]'
    assert parameters["code_version"]["componentInputParameter"] == "pipelinechannel--train_code"
    # select collects every trial's model and logs; the winner's go on to evaluate and push.
    select = tasks["select"]
    assert select["dependentTasks"] == sorted([loops[0], "suggest"])
    artifacts = select["inputs"]["artifacts"]
    assert artifacts["trial_models"]["taskOutputArtifact"] == {
        "outputArtifactKey": "pipelinechannel--train-model",
        "producerTask": loops[0],
    }
    for step in ("resolve-baseline", "evaluate", "push"):
        assert tasks[step]["inputs"]["artifacts"]["model"]["taskOutputArtifact"]["producerTask"] == "select", step
    assert tasks["summarize"]["inputs"]["artifacts"]["training_logs"]["taskOutputArtifact"]["producerTask"] == "select"
    assert tasks["suggest"]["cachingOptions"]["enableCache"] and tasks["select"]["cachingOptions"]["enableCache"]
    tuning = tasks["suggest"]["inputs"]["parameters"]["tuning"]["runtimeValue"]["constant"]
    assert tuning["trials"] == 4 and tuning["sampler"] == "random"
