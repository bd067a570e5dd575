"""A fake Kubeflow Pipelines v2beta1 REST API on 127.0.0.1, for tests of ``bigtrain submit`` and ``schedule``.

What it proves: the requests the real ``kfp.Client`` 2.17.3 sends for bigtrain's flows (method, path, query
string, headers, JSON or multipart body), and how bigtrain reacts to the answers. What it does not prove: what a
real cluster does with them (authorization, the scheduler, Argo, the persistence agent). Paths, JSON field names
(``recurringRuns`` is camel case in the real API too), filter keys and enum values follow ``kfp_server_api``
2.17.3 and the KFP backend's filter maps; the shape of ``run_details.task_details`` (a ``root`` task and
``<step>-driver`` tasks next to the steps) is a plausible guess, which is why bigtrain filters by step name.

Use it as a context manager; it records every request in :attr:`FakeKfp.requests` and can be scripted:
``script_next_run`` (task states over successive get_run calls, a failing step), ``add_recurring_run`` (with an
active run), ``finish_run``, and ``fail`` (answer an endpoint with an HTTP error ``times`` times).
"""

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.local_http import LocalServer, ScriptedFailure, take_failure

API = "/apis/v2beta1"
_LOGIN_PAGE = b"<!doctype html><html><body><form action='/dex/auth'>Log in</form></body></html>"
ACTIVE = ("PENDING", "RUNNING", "CANCELING", "PAUSED")
_OPERATIONS = {1: "EQUALS", 2: "NOT_EQUALS", 8: "IN", 9: "IS_SUBSTRING"}
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 500: 13, 503: 14}
# The filter keys the KFP API server accepts per resource (backend/src/apiserver/model/*.go APIToModelFieldMap).
_FILTER_KEYS = {
    "pipelines": {"pipeline_id", "display_name", "name", "created_at", "description", "namespace"},
    "versions": {"pipeline_version_id", "display_name", "name", "created_at", "description"},
    "experiments": {"experiment_id", "display_name", "name", "created_at", "description", "storage_state"},
    "runs": {"run_id", "display_name", "name", "created_at", "experiment_id", "state", "recurring_run_id"},
    "recurring_runs": {"recurring_run_id", "id", "display_name", "name", "created_at", "updated_at", "description"},
}


class ApiError(Exception):
    """An HTTP error answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    raw: bytes

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def filter(self) -> dict[str, Any] | None:
        """The parsed ``filter`` query parameter."""
        text = self.param("filter")
        return json.loads(text) if text else None


@dataclass
class RunScript:
    """What get_run answers on successive calls: (run state, {step: state}) snapshots; the last one repeats."""

    snapshots: list[tuple[str, dict[str, str]]]
    task_errors: dict[str, str] = field(default_factory=dict)
    run_error: str | None = None
    calls: int = 0


class FakeKfp:
    """The fake server and its in-memory state. ``with FakeKfp() as kfp: ... kfp.url``."""

    def __init__(self, *, multi_user: bool = False) -> None:
        self.multi_user = multi_user
        self.requests: list[Recorded] = []
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, Any]] = {}
        self.experiments: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.recurring_runs: dict[str, dict[str, Any]] = {}
        self.killed_runs: list[str] = []  # active runs whose recurring run was deleted under them
        self._scripts: list[RunScript] = []
        self._run_scripts: dict[str, RunScript] = {}
        self._failures: list[ScriptedFailure] = []
        self._login_pages = 0
        self._ids = itertools.count(1)
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()
        self._http: LocalServer | None = None

    # lifecycle
    def __enter__(self) -> "FakeKfp":
        self._http = LocalServer(self._serve).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self._http.url

    # scripting
    def fail(self, method: str, path: str, status: int, message: str, times: int = 1) -> None:
        """Answer requests matching ``method`` and the ``path`` regex (searched in the path after /apis/v2beta1)
        with ``status`` and ``message``, ``times`` times."""
        self._failures.append(ScriptedFailure(method, re.compile(path), status, message, times))

    def serve_login_page(self, times: int = 1) -> None:
        """Answer the next ``times`` requests with 200 and an HTML page, like an auth proxy's login redirect."""
        self._login_pages += times

    def script_next_run(
        self,
        *snapshots: tuple[str, dict[str, str]],
        task_errors: dict[str, str] | None = None,
        run_error: str | None = None,
    ) -> None:
        """The next created run answers get_run with these snapshots in turn."""
        self._scripts.append(RunScript(list(snapshots), dict(task_errors or {}), run_error))

    def add_pipeline(self, name: str, namespace: str = "", spec: dict[str, Any] | None = None) -> str:
        """An existing pipeline with one version; returns its id."""
        with self._lock:
            return self._new_pipeline(name, namespace, spec or {"pipelineInfo": {"name": name}}, "")["pipeline_id"]

    def add_recurring_run(
        self,
        display_name: str,
        *,
        cron: str = "0 0 1 * * *",
        enabled: bool = True,
        namespace: str = "",
        active_run: str | None = None,
    ) -> tuple[str, str | None]:
        """An existing recurring run, optionally with a run in state ``active_run``; returns (id, run id)."""
        with self._lock:
            rr_id = self._id("rr")
            self.recurring_runs[rr_id] = {
                "recurring_run_id": rr_id,
                "display_name": display_name,
                "namespace": namespace,
                "trigger": {"cron_schedule": {"cron": cron}},
                "max_concurrency": "1",
                "mode": "ENABLE" if enabled else "DISABLE",
                "status": "ENABLED" if enabled else "DISABLED",
                "created_at": self._now(),
            }
            run_id = None
            if active_run:
                run_id = self._id("run")
                self.runs[run_id] = {
                    "run_id": run_id,
                    "display_name": f"{display_name}-run",
                    "recurring_run_id": rr_id,
                    "namespace": namespace,
                    "state": active_run,
                    "created_at": self._now(),
                }
            return rr_id, run_id

    def finish_run(self, run_id: str, state: str = "SUCCEEDED") -> None:
        """Move a run to ``state``."""
        with self._lock:
            self.runs[run_id]["state"] = state

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally only this method and paths ending with ``path`` (after /apis/v2beta1)."""
        return [
            r
            for r in list(self.requests)
            if (method is None or r.method == method) and (path is None or r.path.endswith(path))
        ]

    # the server side
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in handler.headers.items()}
        body = _parse_body(headers.get("content-type", ""), raw)
        query = parse_qs(url.query, keep_blank_values=True)
        record = Recorded(handler.command, url.path, query, headers, body, raw)
        content_type = "application/json"
        with self._lock:
            self.requests.append(record)
            try:
                status, answer = 200, self._answer(record)
            except ApiError as error:
                status = error.status
                code = _GRPC_CODES.get(status, 2)
                answer = {"error": str(error), "code": code, "message": str(error), "details": []}
            if self._login_pages > 0:
                self._login_pages -= 1
                status, content_type = 200, "text/html; charset=utf-8"
        data = json.dumps(answer).encode() if content_type == "application/json" else _LOGIN_PAGE
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, r: Recorded) -> Any:
        path = r.path.removeprefix(API)
        if failure := take_failure(self._failures, r.method, path):
            raise ApiError(failure.status, failure.message)
        routes = [
            ("GET", r"/healthz", lambda: {"multi_user": self.multi_user, "pipeline_store": "database"}),
            ("POST", r"/pipelines/upload", lambda: self._upload(r)),
            ("POST", r"/pipelines/upload_version", lambda: self._upload_version(r)),
            ("GET", r"/pipelines", lambda: self._list(r, "pipelines", self.pipelines.values())),
            ("GET", r"/pipelines/(?P<id>[^/:]+)/versions", lambda id: self._list_versions(r, id)),
            ("GET", r"/pipelines/(?P<id>[^/:]+)", lambda id: self._get(self.pipelines, id, "pipeline")),
            ("GET", r"/experiments", lambda: self._list(r, "experiments", self.experiments.values())),
            ("POST", r"/experiments", lambda: self._create_experiment(r)),
            ("GET", r"/runs", lambda: self._list(r, "runs", self.runs.values())),
            ("POST", r"/runs", lambda: self._create_run(r)),
            ("GET", r"/runs/(?P<id>[^/:]+)", lambda id: self._get_run(id)),
            ("GET", r"/recurringruns", lambda: self._list(r, "recurring_runs", self.recurring_runs.values())),
            ("POST", r"/recurringruns", lambda: self._create_recurring_run(r)),
            ("GET", r"/recurringruns/(?P<id>[^/:]+)", lambda id: self._get(self.recurring_runs, id, "recurring run")),
            ("POST", r"/recurringruns/(?P<id>[^/:]+):disable", lambda id: self._set_enabled(id, False)),
            ("POST", r"/recurringruns/(?P<id>[^/:]+):enable", lambda id: self._set_enabled(id, True)),
            ("DELETE", r"/recurringruns/(?P<id>[^/:]+)", lambda id: self._delete_recurring_run(id)),
        ]
        for method, pattern, action in routes:
            match = re.fullmatch(pattern, path)
            if match and method == r.method:
                return action(**match.groupdict())
        raise ApiError(404, f"no route for {r.method} {r.path}")

    def _id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids):04d}"

    def _now(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.isoformat().replace("+00:00", "Z")

    def _get(self, table: dict[str, dict[str, Any]], key: str, what: str) -> dict[str, Any]:
        if key not in table:
            raise ApiError(404, f"{what} {key} not found")
        return table[key]

    def _list(self, r: Recorded, kind: str, items: Any) -> dict[str, Any]:
        selected = [item for item in items if _matches(item, r.filter, kind)]
        namespace = r.param("namespace")
        if namespace and kind != "versions":
            selected = [item for item in selected if item.get("namespace", "") in (namespace, "")]
        if (r.param("sort_by") or "").endswith(" desc"):
            selected.reverse()
        start = int(r.param("page_token") or 0)
        size = int(r.param("page_size") or 10) or 10
        page, rest = selected[start : start + size], selected[start + size :]
        key = {"recurring_runs": "recurringRuns", "versions": "pipeline_versions"}.get(kind, kind)
        answer: dict[str, Any] = {key: page, "total_size": len(selected)}
        if rest:
            answer["next_page_token"] = str(start + size)
        return answer

    def _list_versions(self, r: Recorded, pipeline_id: str) -> dict[str, Any]:
        self._get(self.pipelines, pipeline_id, "pipeline")
        versions = [v for v in self.versions.values() if v["pipeline_id"] == pipeline_id]
        return self._list(r, "versions", versions)

    def _new_pipeline(self, name: str, namespace: str, spec: dict[str, Any], description: str) -> dict[str, Any]:
        if any(p["display_name"] == name and p["namespace"] == namespace for p in self.pipelines.values()):
            raise ApiError(409, f"Already exist error: pipeline {name!r} already exists in namespace {namespace!r}")
        pipeline_id = self._id("pipeline")
        pipeline = {
            "pipeline_id": pipeline_id,
            "display_name": name,
            "name": name,
            "namespace": namespace,
            "description": description,
            "created_at": self._now(),
        }
        self.pipelines[pipeline_id] = pipeline
        self._new_version(pipeline_id, name, spec, description)
        return pipeline

    def _new_version(self, pipeline_id: str, name: str, spec: dict[str, Any], description: str) -> dict[str, Any]:
        if any(v["pipeline_id"] == pipeline_id and v["display_name"] == name for v in self.versions.values()):
            raise ApiError(409, f"Already exist error: version {name!r} exists")
        version_id = self._id("version")
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": version_id,
            "display_name": name,
            "name": name,
            "description": description,
            "created_at": self._now(),
            "pipeline_spec": spec,
        }
        self.versions[version_id] = version
        return version

    def _uploaded_spec(self, r: Recorded) -> dict[str, Any]:
        part = (r.body or {}).get("uploadfile")
        if not part:
            raise ApiError(400, "no uploadfile in the multipart body")
        spec = next(iter(yaml.safe_load_all(part["text"])), None)
        if not isinstance(spec, dict) or "pipelineInfo" not in spec:
            raise ApiError(400, "the uploaded file is not a compiled pipeline")
        return spec

    def _upload(self, r: Recorded) -> dict[str, Any]:
        spec = self._uploaded_spec(r)
        name = r.param("name") or r.param("display_name") or spec["pipelineInfo"]["name"]
        return self._new_pipeline(name, r.param("namespace") or "", spec, r.param("description") or "")

    def _upload_version(self, r: Recorded) -> dict[str, Any]:
        spec = self._uploaded_spec(r)
        pipeline_id = r.param("pipelineid") or ""
        self._get(self.pipelines, pipeline_id, "pipeline")
        name = r.param("name") or r.param("display_name") or ""
        return self._new_version(pipeline_id, name, spec, r.param("description") or "")

    def _create_experiment(self, r: Recorded) -> dict[str, Any]:
        experiment_id = self._id("experiment")
        experiment = {**r.body, "experiment_id": experiment_id, "created_at": self._now(), "storage_state": "AVAILABLE"}
        experiment.setdefault("namespace", "")
        self.experiments[experiment_id] = experiment
        return experiment

    def _check_references(self, body: dict[str, Any]) -> str:
        experiment = self._get(self.experiments, body.get("experiment_id", ""), "experiment")
        reference = body.get("pipeline_version_reference") or {}
        version = self._get(self.versions, reference.get("pipeline_version_id", ""), "pipeline version")
        if version["pipeline_id"] != reference.get("pipeline_id"):
            raise ApiError(400, "the pipeline version does not belong to the pipeline")
        return experiment["namespace"]

    def _create_run(self, r: Recorded) -> dict[str, Any]:
        namespace = self._check_references(r.body)
        run_id = self._id("run")
        run = {**r.body, "run_id": run_id, "namespace": namespace, "state": "PENDING", "created_at": self._now()}
        self.runs[run_id] = run
        if self._scripts:
            self._run_scripts[run_id] = self._scripts.pop(0)
        return run

    def _get_run(self, run_id: str) -> dict[str, Any]:
        run = self._get(self.runs, run_id, "run")
        script = self._run_scripts.get(run_id)
        if script is None:
            return run
        state, steps = script.snapshots[min(script.calls, len(script.snapshots) - 1)]
        script.calls += 1
        run["state"] = state
        tasks: list[dict[str, Any]] = [{"task_id": f"{run_id}-root", "display_name": "root", "state": state}]
        for index, (step, step_state) in enumerate(steps.items()):
            task = {
                "task_id": f"{run_id}-{index}",
                "display_name": step,
                "state": step_state,
                "create_time": f"2026-01-01T00:00:{index:02d}Z",
            }
            if step_state == "FAILED" and step in script.task_errors:
                task["error"] = {"code": 2, "message": script.task_errors[step]}
            tasks += [{"task_id": f"{run_id}-{index}-driver", "display_name": f"{step}-driver", "state": "SUCCEEDED"}]
            tasks.append(task)
        run["run_details"] = {"task_details": tasks}
        if state == "FAILED" and script.run_error:
            run["error"] = {"code": 2, "message": script.run_error}
        return run

    def _create_recurring_run(self, r: Recorded) -> dict[str, Any]:
        namespace = self._check_references(r.body)
        rr_id = self._id("rr")
        enabled = r.body.get("mode") == "ENABLE"
        rr = {
            **r.body,
            "recurring_run_id": rr_id,
            "namespace": namespace,
            "created_at": self._now(),
            "status": "ENABLED" if enabled else "DISABLED",
        }
        rr["max_concurrency"] = str(rr.get("max_concurrency", "1"))  # int64: a JSON string on the real API
        self.recurring_runs[rr_id] = rr
        return rr

    def _set_enabled(self, rr_id: str, enabled: bool) -> dict[str, Any]:
        rr = self._get(self.recurring_runs, rr_id, "recurring run")
        rr["mode"], rr["status"] = ("ENABLE", "ENABLED") if enabled else ("DISABLE", "DISABLED")
        return {}

    def _delete_recurring_run(self, rr_id: str) -> dict[str, Any]:
        self._get(self.recurring_runs, rr_id, "recurring run")
        del self.recurring_runs[rr_id]
        for run in self.runs.values():  # Kubernetes garbage-collects the workflows the ScheduledWorkflow owns
            if run.get("recurring_run_id") == rr_id and run.get("state") in ACTIVE:
                self.killed_runs.append(run["run_id"])
                run["state"] = "CANCELED"
        return {}


def _parse_body(content_type: str, raw: bytes) -> Any:
    if not raw:
        return None
    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        parts: dict[str, dict[str, Any]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            content = part.get_payload(decode=True) or b""
            parts[str(name)] = {"filename": part.get_filename(), "text": content.decode(errors="replace")}
        return parts
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _matches(item: dict[str, Any], spec: dict[str, Any] | None, kind: str) -> bool:
    for predicate in (spec or {}).get("predicates", []):
        key = predicate.get("key")
        if key not in _FILTER_KEYS[kind]:
            raise ApiError(400, f"Invalid input error: {key!r} is not a valid filter key for {kind}")
        operation = predicate.get("operation")
        operation = _OPERATIONS.get(operation, operation) if isinstance(operation, int) else operation
        value = item.get(key, "")
        if operation == "EQUALS":
            expected = next(
                (
                    predicate[k]
                    for k in ("string_value", "stringValue", "int_value", "intValue", "long_value", "longValue")
                    if k in predicate
                ),
                None,
            )
            if str(value) != str(expected):
                return False
        elif operation == "IN":
            values = (predicate.get("string_values") or predicate.get("stringValues") or {}).get("values", [])
            if value not in values:
                return False
        else:
            raise ApiError(400, f"Invalid input error: operation {operation!r} is not supported by this fake")
    return True


def compile_tiny_pipeline(path: Path, name: str = "bigtrain-tiny") -> Path:
    """A two-step pipeline (``ingest`` → ``train``, with a ``train_code`` parameter like bigtrain's), compiled with
    ``kfp.compiler``: for tests of submit/schedule that must not depend on the project's DAG. (This module has no
    ``from __future__ import annotations``: kfp reads the component's annotations as real types.)"""
    from kfp import compiler, dsl

    @dsl.component(base_image="python:3.11-slim")
    def step(text: str) -> str:
        return text

    @dsl.pipeline(name=name)
    def tiny(train_code: str = "code-v1") -> None:
        ingest = step(text="data").set_display_name("ingest")
        step(text=train_code).after(ingest).set_display_name("train")

    compiler.Compiler().compile(tiny, str(path))
    return path
