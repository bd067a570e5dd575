"""A fake Kubernetes API on 127.0.0.1 for the TFJob launcher's tests.

What it proves: the requests the launcher sends through the real official client (``kubernetes`` 30.1, pointed
here with ``Configuration(host=url)``): method, path, query string and JSON body, and how the launcher reacts to
the answers. What it does not prove: what a cluster does with them. There is no admission, no training operator,
no scheduler: each job's conditions are scripted, per job name, and advance one step per GET of the job. This
proves the requests, not the cluster.

Implemented: POST/GET/DELETE ``/apis/kubeflow.org/v1/namespaces/{ns}/tfjobs[/{name}]``, GET
``/api/v1/namespaces/{ns}/pods?labelSelector=k=v[,k=v]`` and GET ``/api/v1/namespaces/{ns}/pods/{pod}/log``.
Errors are answered as Kubernetes ``Status`` objects. ``on_create`` can play the job's pods (write the chief's
model and result where the staged request says).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.local_http import LocalServer, ScriptedFailure, take_failure

JOB_NAME_LABEL = "training.kubeflow.org/job-name"
_TFJOBS = re.compile(r"^/apis/kubeflow\.org/v1/namespaces/(?P<ns>[^/]+)/tfjobs(?:/(?P<name>[^/]+))?$")
_PODS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$")
_POD_LOG = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<pod>[^/]+)/log$")
_REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "AlreadyExists", 500: "InternalError"}


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class JobState:
    """One scripted observation of a job: its current condition and the workers' counts (None: derived)."""

    type: str
    reason: str = ""
    message: str = ""
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None


CREATED = JobState("Created", "TFJobCreated")
RUNNING = JobState("Running", "TFJobRunning")
SUCCEEDED = JobState("Succeeded", "TFJobSucceeded")
RESTARTING = JobState("Restarting", "TFJobRestarting", "TFJob is restarting because 1 Worker replica(s) failed.")


WORKER_FAILED = "TFJob has failed because 1 Worker replica(s) failed."


def failed(reason: str = "TFJobFailed", message: str = WORKER_FAILED) -> JobState:
    """A Failed observation with the operator's reason and message."""
    return JobState("Failed", reason, message)


@dataclass(frozen=True)
class FakePod:
    """A worker pod of a job: its training container's log and how that container ended (None: still running).
    ``restarted``: the failure is the previous run's (the container restarts in place, restartPolicy OnFailure)."""

    name: str
    log: str = ""
    exit_code: int | None = None
    restarted: bool = False


@dataclass
class JobScript:
    """What successive GETs of one job answer (the last state repeats), and the job's pods."""

    states: list[JobState]
    pods: list[FakePod] | None = None
    reads: int = 0


@dataclass
class FakeKubernetes:
    """The fake API server and its state. ``with FakeKubernetes() as k8s: ... k8s.url``."""

    default_states: list[JobState] = field(default_factory=lambda: [CREATED, RUNNING, SUCCEEDED])
    on_create: Callable[[dict[str, Any]], None] | None = None  # plays the job's pods (e.g. writes the chief's output)
    requests: list[Recorded] = field(default_factory=list)
    jobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    scripts: dict[str, JobScript] = field(default_factory=dict)
    _failures: list[ScriptedFailure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _uids: Any = field(default_factory=lambda: itertools.count(1))
    _http: LocalServer | None = None

    # lifecycle
    def __enter__(self) -> FakeKubernetes:
        self._http = LocalServer(self._serve).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self._http.url

    # scripting
    def script(self, job: str, states: list[JobState], pods: list[FakePod] | None = None) -> None:
        """Play ``states`` for the job named ``job`` (one per GET, the last repeats) and list ``pods`` for it."""
        self.scripts[job] = JobScript(list(states), pods)

    def fail(self, method: str, path: str, status: int, message: str, times: int = 1) -> None:
        """Answer requests matching ``method`` and the ``path`` regex (searched) with ``status``, ``times`` times."""
        self._failures.append(ScriptedFailure(method, re.compile(path), status, message, times))

    def put_job(self, namespace: str, body: dict[str, Any]) -> None:
        """Store a job as if an earlier attempt had created it."""
        self.jobs[(namespace, body["metadata"]["name"])] = json.loads(json.dumps(body))

    # reading the record
    def calls(self, method: str, path_part: str = "") -> list[Recorded]:
        """The recorded requests with ``method`` whose path contains ``path_part``."""
        return [r for r in self.requests if r.method == method and path_part in r.path]

    # serving
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append(Recorded(handler.command, url.path, parse_qs(url.query), body))
            status, answer = self._answer(handler.command, url.path, parse_qs(url.query), body)
        if isinstance(answer, str):
            data, content_type = answer.encode(), "text/plain"
        else:
            data, content_type = json.dumps(answer).encode(), "application/json"
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if failure := take_failure(self._failures, method, path):
            return failure.status, _status(failure.status, failure.message)
        if match := _TFJOBS.match(path):
            return self._tfjobs(method, match["ns"], match["name"], body)
        if method == "GET" and (match := _PODS.match(path)):
            return 200, self._pod_list(match["ns"], (query.get("labelSelector") or [""])[0])
        if method == "GET" and (match := _POD_LOG.match(path)):
            return self._pod_log(match["ns"], match["pod"], query)
        return 404, _status(404, f"the server could not find the requested resource ({method} {path})")

    def _tfjobs(self, method: str, namespace: str, name: str | None, body: Any) -> tuple[int, Any]:
        if name is None and method == "POST":
            name = body["metadata"]["name"]
            if (namespace, name) in self.jobs:
                return 409, _status(409, f'tfjobs.kubeflow.org "{name}" already exists')
            stored = json.loads(json.dumps(body))
            stored["metadata"].update(uid=f"uid-{next(self._uids)}", resourceVersion="1", generation=1)
            self.jobs[(namespace, name)] = stored
            if self.on_create is not None:
                self.on_create(stored)
            return 201, stored
        if name is None and method == "GET":
            items = [job for (ns, _), job in sorted(self.jobs.items()) if ns == namespace]
            return 200, {"apiVersion": "kubeflow.org/v1", "kind": "TFJobList", "metadata": {}, "items": items}
        job = self.jobs.get((namespace, name or ""))
        if job is None:
            return 404, _status(404, f'tfjobs.kubeflow.org "{name}" not found')
        if method == "DELETE":
            del self.jobs[(namespace, name or "")]
            return 200, {**job, "metadata": {**job["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}
        if method == "GET":
            return 200, {**job, "status": self._status_of(job)}
        return 405, _status(405, f"{method} is not allowed here")

    def _script(self, name: str) -> JobScript:
        return self.scripts.setdefault(name, JobScript(list(self.default_states)))

    def _status_of(self, job: dict[str, Any]) -> dict[str, Any]:
        """The job's status after one more step of its script, shaped as the operator writes it."""
        script = self._script(job["metadata"]["name"])
        state = script.states[min(script.reads, len(script.states) - 1)]
        script.reads += 1
        replicas = job["spec"]["tfReplicaSpecs"]["Worker"]["replicas"]
        conditions = [_condition("Created", "True", "TFJobCreated", "TFJob is created.")]
        if state.type in ("Running", "Restarting"):
            conditions.append(_condition(state.type, "True", state.reason, state.message))
        elif state.type in ("Succeeded", "Failed"):
            conditions.append(_condition("Running", "False", "TFJobRunning", "TFJob is running."))
            conditions.append(_condition(state.type, "True", state.reason, state.message))
        derived = {
            "Created": (0, 0, 0),
            "Running": (replicas, 0, 0),
            "Restarting": (replicas - 1, 0, 1),
            "Succeeded": (0, 1, 0),
            "Failed": (replicas - 1, 0, 1),
        }[state.type]
        given = (state.active, state.succeeded, state.failed)
        active, succeeded, failed_ = (d if g is None else g for g, d in zip(given, derived, strict=True))
        status: dict[str, Any] = {"conditions": conditions}
        if state.type != "Created":
            counts = {"active": active, "succeeded": succeeded, "failed": failed_}
            status["replicaStatuses"] = {"Worker": {key: value for key, value in counts.items() if value}}
        return status

    def _pods_of(self, namespace: str, job: str) -> list[FakePod]:
        script = self.scripts.get(job)
        if script is not None and script.pods is not None:
            return script.pods
        stored = self.jobs.get((namespace, job))
        replicas = stored["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] if stored else 0
        return [FakePod(f"{job}-worker-{index}") for index in range(replicas)]

    def _pod_list(self, namespace: str, selector: str) -> dict[str, Any]:
        wanted = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
        job = wanted.get(JOB_NAME_LABEL, "")
        items = []
        for pod in self._pods_of(namespace, job):
            labels = {JOB_NAME_LABEL: job, "training.kubeflow.org/replica-type": "worker"}
            if all(labels.get(key) == value for key, value in wanted.items()):
                items.append(_pod(namespace, pod, labels))
        return {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": items}

    def _pod_log(self, namespace: str, name: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        pods = [pod for script in self.scripts.values() for pod in script.pods or [] if pod.name == name]
        if not pods:
            return 404, _status(404, f'pods "{name}" not found')
        pod = pods[0]
        if _go_bool((query.get("previous") or ["false"])[0]) and not pod.restarted:
            return 400, _status(400, f'previous terminated container "tensorflow" in pod "{name}" not found')
        lines = pod.log.splitlines()
        tail = int((query.get("tailLines") or [str(len(lines))])[0])
        return 200, "".join(line + "\n" for line in lines[-tail:] if tail)


def _go_bool(text: str) -> bool:
    """A boolean query parameter as the API server parses it (Go strconv.ParseBool; the client sends ``True``)."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError(f"invalid boolean {text!r}")


def _condition(type_: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": "2026-01-01T00:00:00Z",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def _status(code: int, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": _REASONS.get(code, "Unknown"),
        "code": code,
    }


def _pod(namespace: str, pod: FakePod, labels: dict[str, str]) -> dict[str, Any]:
    running = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    ended = {"terminated": {"exitCode": pod.exit_code, "reason": "Error" if pod.exit_code else "Completed"}}
    if pod.exit_code is None:
        state, last_state, phase = running, {}, "Running"
    elif pod.restarted:
        state, last_state, phase = {"waiting": {"reason": "CrashLoopBackOff"}}, ended, "Running"
    else:
        state, last_state, phase = ended, {}, "Failed" if pod.exit_code else "Succeeded"
    container = {
        "name": "tensorflow",
        "image": "bigtrain:test",
        "imageID": "",
        "ready": pod.exit_code is None,
        "restartCount": 1 if pod.restarted else 0,
        "state": state,
        "lastState": last_state,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod.name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "tensorflow", "image": "bigtrain:test"}]},
        "status": {"phase": phase, "containerStatuses": [container]},
    }
