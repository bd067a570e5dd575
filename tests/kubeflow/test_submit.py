"""``bigtrain submit`` against the fake KFP API with the real kfp.Client: what is uploaded, how the run is
started, and how ``--wait`` follows it."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from pipelines.kubeflow.client import KfpApi, KfpApiError
from pipelines.kubeflow.submit import (
    Published,
    code_hash,
    publish,
    start_run,
    step_names,
    version_name,
    watch_run,
)
from tests.conftest import DEMO_CONFIG
from tests.kubeflow.conftest import TARGET
from tests.kubeflow.fake_kfp import FakeKfp, compile_tiny_pipeline

NOW = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def _uploaded_spec(request) -> dict:
    """The pipeline spec: the first YAML document of the uploaded file (a platform spec may follow)."""
    return next(yaml.safe_load_all(request.body["uploadfile"]["text"]))


def test_first_publish_uploads_the_compiled_spec_as_a_new_pipeline(fake: FakeKfp, api: KfpApi, package: Path):
    published = publish(api, package, "bigtrain-tiny", NOW)

    (upload,) = fake.calls("POST", "/pipelines/upload")
    assert upload.param("name") == "bigtrain-tiny"
    assert upload.param("namespace") == "team-a"
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert _uploaded_spec(upload) == yaml.safe_load(package.read_text())
    assert _uploaded_spec(upload)["pipelineInfo"]["name"] == "bigtrain-tiny"
    (lookup,) = fake.calls("GET", "/pipelines")
    assert lookup.filter["predicates"][0]["key"] == "display_name"
    assert published.new_pipeline
    assert fake.versions[published.version_id]["pipeline_id"] == published.pipeline_id


def test_an_existing_pipeline_gets_a_new_uniquely_named_version(fake: FakeKfp, api: KfpApi, package: Path):
    pipeline_id = fake.add_pipeline("bigtrain-tiny", namespace="team-a")

    first = publish(api, package, "bigtrain-tiny", NOW)
    second = publish(api, package, "bigtrain-tiny", NOW.replace(microsecond=890124))

    assert not fake.calls("POST", "/pipelines/upload")
    uploads = fake.calls("POST", "/pipelines/upload_version")
    assert [u.param("pipelineid") for u in uploads] == [pipeline_id, pipeline_id]
    names = [u.param("name") for u in uploads]
    assert names == [first.version_name, second.version_name] and len(set(names)) == 2
    assert names[0] == f"bigtrain-tiny-20260304-050607-890123-{code_hash(package)}"
    assert re.fullmatch(r"bigtrain-tiny-\d{8}-\d{6}-\d{6}-[0-9a-f]{8}", names[1])
    assert _uploaded_spec(uploads[0])["pipelineInfo"]["name"] == "bigtrain-tiny"
    assert (first.pipeline_id, first.new_pipeline) == (pipeline_id, False)


def test_code_hash_follows_the_code_parameters_only(tmp_path: Path, package: Path):
    other = compile_tiny_pipeline(tmp_path / "other.yaml")
    assert code_hash(other) == code_hash(package)
    text = package.read_text().replace("code-v1", "code-v2")
    (tmp_path / "changed.yaml").write_text(text)
    assert code_hash(tmp_path / "changed.yaml") != code_hash(package)
    assert version_name("p", package, NOW).startswith("p-20260304-050607-890123-")


def test_a_concurrent_first_upload_falls_back_to_a_new_version(package: Path):
    class Racing:
        """Another submitter creates the pipeline between our lookup and our upload."""

        def __init__(self) -> None:
            self.lookups = iter([None, "pipeline-theirs"])
            self.versions: list[tuple[str, str]] = []

        def find_pipeline(self, name: str) -> str | None:
            return next(self.lookups)

        def upload_pipeline(self, *args: object) -> str:
            raise KfpApiError(409, "already exists")

        def upload_version(self, package: str, pipeline_id: str, name: str, description: str) -> str:
            self.versions.append((pipeline_id, name))
            return "version-ours"

    racing = Racing()
    published = publish(racing, package, "bigtrain-tiny", NOW)  # type: ignore[arg-type]
    assert published == Published("pipeline-theirs", "version-ours", racing.versions[0][1], False)


def test_the_run_pins_the_version_and_carries_experiment_and_service_account(fake: FakeKfp, api: KfpApi, package: Path):
    published = publish(api, package, "bigtrain-tiny", NOW)
    run_id = start_run(api, published, TARGET, "bigtrain-tiny-run")
    start_run(api, published, TARGET, "bigtrain-tiny-run-2")

    (experiment,) = fake.calls("POST", "/experiments")
    assert experiment.body == {"display_name": "tiny-experiment", "namespace": "team-a"}
    lookups = fake.calls("GET", "/experiments")
    assert all(r.param("namespace") == "team-a" for r in lookups) and len(lookups) == 2
    body = fake.calls("POST", "/runs")[0].body
    assert body["display_name"] == "bigtrain-tiny-run"
    (experiment_id,) = fake.experiments
    assert body["experiment_id"] == experiment_id
    assert body["pipeline_version_reference"] == {
        "pipeline_id": published.pipeline_id,
        "pipeline_version_id": published.version_id,
    }
    assert body["runtime_config"] == {"parameters": {}}
    assert body["service_account"] == "tiny-runner"
    assert "pipeline_spec" not in body  # the run references the uploaded version; it does not inline a spec
    assert fake.runs[run_id]["namespace"] == "team-a"


def test_step_names_are_the_container_tasks(package: Path):
    assert step_names(package) == ["ingest", "train"]


def _published_run(fake: FakeKfp, api: KfpApi, package: Path) -> str:
    return start_run(api, publish(api, package, "bigtrain-tiny", NOW), TARGET, "run")


def test_watch_prints_each_state_change_once_and_names_the_failed_step(fake: FakeKfp, api: KfpApi, package: Path):
    fake.script_next_run(
        ("PENDING", {}),
        ("RUNNING", {"ingest": "RUNNING"}),
        ("RUNNING", {"ingest": "RUNNING"}),
        ("RUNNING", {"ingest": "SUCCEEDED", "train": "RUNNING"}),
        ("FAILED", {"ingest": "SUCCEEDED", "train": "FAILED"}),
        task_errors={"train": "ValueError: NaN loss at step 12"},
    )
    run_id = _published_run(fake, api, package)
    out = io.StringIO()

    outcome = watch_run(api, run_id, step_names(package), timeout=60, poll_interval=0, out=out)

    assert out.getvalue().splitlines() == [
        "  ▸ ingest            RUNNING",
        "  ✓ ingest            SUCCEEDED",
        "  ▸ train             RUNNING",
        "  ✗ train             FAILED",
    ]
    assert (outcome.state, outcome.failed_steps, outcome.error) == (
        "FAILED",
        ["train"],
        "ValueError: NaN loss at step 12",
    )
    assert len(fake.calls("GET", f"/runs/{run_id}")) == 5


def test_watch_times_out_with_the_last_state(fake: FakeKfp, api: KfpApi, package: Path):
    fake.script_next_run(("RUNNING", {"ingest": "RUNNING"}))
    run_id = _published_run(fake, api, package)
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    outcome = watch_run(
        api, run_id, [], timeout=25, poll_interval=10, out=io.StringIO(), clock=lambda: now[0], sleep=sleep
    )

    assert (outcome.state, outcome.last_state) == ("TIMEOUT", "RUNNING")
    assert slept == [10, 10, 5]


def test_watch_rides_out_a_few_server_errors_but_not_a_refusal(fake: FakeKfp, api: KfpApi, package: Path):
    fake.script_next_run(("RUNNING", {"ingest": "RUNNING"}), ("SUCCEEDED", {"ingest": "SUCCEEDED"}))
    run_id = _published_run(fake, api, package)
    fake.fail("GET", f"/runs/{run_id}$", 503, "apiserver restarting", times=3)

    outcome = watch_run(api, run_id, [], timeout=60, poll_interval=0, out=io.StringIO())

    assert outcome.state == "SUCCEEDED"
    fake.fail("GET", f"/runs/{run_id}$", 503, "still restarting", times=4)
    with pytest.raises(KfpApiError, match="503 Service Unavailable while getting the run status: still restarting"):
        watch_run(api, run_id, [], timeout=60, poll_interval=0, out=io.StringIO())
    fake.fail("GET", f"/runs/{run_id}$", 403, "token expired")
    with pytest.raises(KfpApiError, match="403"):
        watch_run(api, run_id, [], timeout=60, poll_interval=0, out=io.StringIO())


def test_cli_submit_prints_run_id_and_url_and_compile_warnings(fake: FakeKfp, capsys: pytest.CaptureFixture[str]):
    assert main(["submit", "--config", str(DEMO_CONFIG), "--host", fake.url]) == 0

    out, err = capsys.readouterr()
    (run_id,) = fake.runs
    assert f"bigtrain: started run {run_id} in experiment bigtrain-demo" in out
    assert f"{fake.url}/#/runs/details/{run_id}" in out
    assert "bigtrain: warning: image 'ghcr.io/example/bigtrain:0.1.0' is a tag" in err  # the demo image is a tag
    assert all(line.startswith("bigtrain: warning: ") for line in err.splitlines())
    (upload,) = fake.calls("POST", "/pipelines/upload")
    assert (upload.param("name"), upload.param("namespace")) == ("bigtrain-demo", "bigtrain")
    assert _uploaded_spec(upload)["pipelineInfo"]["name"] == "bigtrain-demo"
    run = fake.calls("POST", "/runs")[0].body
    assert run["service_account"] == "bigtrain-pipeline-runner"
    assert fake.experiments[run["experiment_id"]]["display_name"] == "bigtrain-demo"


def test_cli_submit_flags_override_the_config(fake: FakeKfp, capsys: pytest.CaptureFixture[str]):
    image = "registry.example/bigtrain@sha256:" + "a" * 64
    args = ["--experiment", "nightly", "--namespace", "ml-team", "--image", image]
    assert main(["submit", "--config", str(DEMO_CONFIG), "--host", fake.url, *args]) == 0

    (experiment,) = fake.calls("POST", "/experiments")
    assert experiment.body == {"display_name": "nightly", "namespace": "ml-team"}
    (upload,) = fake.calls("POST", "/pipelines/upload")
    assert upload.param("namespace") == "ml-team"
    assert image in upload.body["uploadfile"]["text"]


def test_cli_submit_wait_exits_1_naming_the_failed_step(fake: FakeKfp, capsys: pytest.CaptureFixture[str]):
    fake.script_next_run(
        ("RUNNING", {"ingest": "SUCCEEDED", "preprocess": "SUCCEEDED", "train": "RUNNING"}),
        ("FAILED", {"ingest": "SUCCEEDED", "preprocess": "SUCCEEDED", "train": "FAILED"}),
        task_errors={"train": "ResourceExhaustedError: OOM when allocating tensor\n  (more trace)"},
    )
    argv = ["submit", "--config", str(DEMO_CONFIG), "--host", fake.url, "--wait", "--poll-interval", "0"]

    assert main(argv) == 1

    out, err = capsys.readouterr()
    assert "  ✗ train             FAILED" in out.splitlines()
    (error,) = [line for line in err.splitlines() if not line.startswith("bigtrain: warning: ")]
    (run_id,) = fake.runs
    assert error == (
        f"bigtrain: error: run {run_id} FAILED at step train: ResourceExhaustedError: OOM when allocating tensor "
        f"(more trace) ({fake.url}/#/runs/details/{run_id})"
    )


def test_cli_submit_wait_exits_0_when_the_run_succeeds(fake: FakeKfp, capsys: pytest.CaptureFixture[str]):
    fake.script_next_run(("RUNNING", {"ingest": "RUNNING"}), ("SUCCEEDED", {"ingest": "SUCCEEDED"}))
    argv = ["submit", "--config", str(DEMO_CONFIG), "--host", fake.url, "--wait", "--poll-interval", "0"]

    assert main(argv) == 0

    (run_id,) = fake.runs
    assert capsys.readouterr().out.splitlines()[-3:] == [
        "  ▸ ingest            RUNNING",
        "  ✓ ingest            SUCCEEDED",
        f"bigtrain: run {run_id} SUCCEEDED",
    ]


def test_cli_submit_wait_timeout_is_one_clear_line(fake: FakeKfp, capsys: pytest.CaptureFixture[str]):
    fake.script_next_run(("RUNNING", {"ingest": "RUNNING"}))
    argv = ["submit", "--config", str(DEMO_CONFIG), "--host", fake.url, "--wait", "--timeout", "0"]

    assert main(argv) == 1

    (run_id,) = fake.runs
    errors = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("bigtrain: warning: ")]
    assert errors == [
        f"bigtrain: error: run {run_id} still RUNNING after 0 s (--timeout); it keeps running on the cluster: "
        f"{fake.url}/#/runs/details/{run_id}"
    ]


def test_recorded_request_bodies_are_json_the_api_accepts(fake: FakeKfp, api: KfpApi, package: Path):
    _published_run(fake, api, package)
    for request in fake.calls("POST"):
        if not request.path.endswith(("/upload", "/upload_version")):
            assert request.headers["content-type"] == "application/json"
            assert json.loads(request.raw) == request.body
