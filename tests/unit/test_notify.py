"""The end of a run: the summary from the artifacts, the exit handler's status record and the webhook post."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from beam_jobs.layout import (
    ANOMALIES_FILE,
    EVALUATION_SUMMARY_FILE,
    PUSH_RECORD_FILE,
    RUN_STATUS_FILE,
    RUN_SUMMARY_FILE,
    STATS_FILE,
)
from components.notify.component import finalize, summarize
from components.notify.status import failed_step
from components.notify.webhook import WEBHOOK_ENV, post_status
from components.train.result import RESULT_FILE
from pipelines.dag import STEPS


class _Recorder(BaseHTTPRequestHandler):
    posts: ClassVar[list[dict]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts.append({"path": self.path, "json": json.loads(body), "type": self.headers["Content-Type"]})
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture()
def webhook() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Recorder", (_Recorder,), {"posts": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook/secret-path", handler
    finally:
        server.shutdown()
        server.server_close()


def _artifact(path: Path) -> SimpleNamespace:
    path.mkdir(parents=True, exist_ok=True)
    return SimpleNamespace(path=str(path), uri=str(path), metadata={})


def _write(directory: Path, name: str, payload: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps(payload))


def test_summarize_writes_the_facts_and_posts_the_headline(tmp_path: Path, webhook, monkeypatch, capsys):
    url, recorder = webhook
    monkeypatch.setenv(WEBHOOK_ENV, url)
    _write(tmp_path / "stats", STATS_FILE, {"input": 10, "train": 7, "eval": 1, "test": 1, "quarantined": 1})
    overall = {"auc": 0.81, "accuracy": 0.7, "example_count": 1.0}
    evaluation = {"overall": overall, "blessed": True, "failures": [], "split": "test"}
    _write(tmp_path / "eval", EVALUATION_SUMMARY_FILE, evaluation)
    _write(tmp_path / "pushed", PUSH_RECORD_FILE, {"pushed": True, "version": 3, "path": "/s/3", "created": True})
    _write(tmp_path / "train", RESULT_FILE, {"best_eval_auc": 0.83})
    mild = {"column": "age", "statistic": "numeric_js", "severity": "warn", "message": "column 'age': ..."}
    _write(tmp_path / "anomalies", ANOMALIES_FILE, {"anomalies": [mild], "baseline_version": 2, "skipped": []})
    inputs = [_artifact(tmp_path / name) for name in ("stats", "eval", "pushed", "train", "anomalies")]
    summarize(*inputs, "bigtrain-x", "r1", ["2026-11-27", "2026-11-28"], _artifact(tmp_path / "out"))
    facts = json.loads((tmp_path / "out" / RUN_SUMMARY_FILE).read_text())
    assert facts["rows"]["input"] == 10 and facts["pushed"]["version"] == 3 and facts["run"] == "r1"
    assert facts["data_spans"] == ["2026-11-27", "2026-11-28"]
    assert facts["data_anomalies"] == {"anomalies": [mild], "baseline_version": 2}
    (post,) = recorder.posts
    assert post["path"] == "/hook/secret-path" and post["type"] == "application/json"
    assert post["json"]["state"] == "SUCCEEDED" and post["json"]["metrics"]["auc"] == 0.81
    assert post["json"]["pushed_version"] == 3 and post["json"]["blessed"] is True
    assert post["json"]["evaluated_split"] == "test" and post["json"]["validation_auc"] == 0.83
    assert url not in capsys.readouterr().out


def test_finalize_records_a_failure_and_posts_it_naming_the_step(tmp_path: Path, webhook, monkeypatch):
    url, recorder = webhook
    monkeypatch.setenv(WEBHOOK_ENV, url)
    status = SimpleNamespace(
        state="FAILED", pipeline_job_resource_name="runs/42", error_message="task 'train' failed: OOMKilled"
    )
    state = finalize(status, "bigtrain-x", list(STEPS), _artifact(tmp_path / "status"))
    record = json.loads((tmp_path / "status" / RUN_STATUS_FILE).read_text())
    assert state == "FAILED" and record["failed_step"] == "train" and record["run"] == "runs/42"
    assert recorder.posts[0]["json"] == record


def test_finalize_on_success_records_without_posting(tmp_path: Path, webhook, monkeypatch):
    url, recorder = webhook
    monkeypatch.setenv(WEBHOOK_ENV, url)
    status = SimpleNamespace(state="SUCCEEDED", pipeline_job_resource_name="runs/43", error_message="")
    assert finalize(status, "bigtrain-x", list(STEPS), _artifact(tmp_path / "status")) == "SUCCEEDED"
    assert json.loads((tmp_path / "status" / RUN_STATUS_FILE).read_text())["failed_step"] is None
    assert recorder.posts == []


@pytest.mark.parametrize(
    ("message", "step"),
    [
        ("task 'resolve-baseline' failed", "resolve-baseline"),
        ("Inner task failed: 'push' inside 'exit-handler-1'", "push"),
        ("pushing failed", None),  # a word that merely contains a step name
        ("", None),
    ],
)
def test_failed_step_is_read_from_the_message(message: str, step: str | None):
    assert failed_step(message, STEPS) == step


def test_a_broken_webhook_never_fails_the_run_or_leaks_its_url(webhook):
    url, recorder = webhook
    recorder.status = 500
    assert post_status({"state": "FAILED"}, url) == "not notified: webhook answered 500"
    unreachable = post_status({"state": "FAILED"}, "http://127.0.0.1:9/secret-path")
    assert unreachable.startswith("not notified: webhook unreachable") and "secret-path" not in unreachable
    assert post_status({"state": "FAILED"}, "") == f"not notified: {WEBHOOK_ENV} is not set"
