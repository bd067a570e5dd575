"""Running a train step as a TFJob from inside a pipeline step: stage its inputs on the shared volume, create the
job, follow its conditions, always delete it, and bring the model and logs back.

Uses the official Kubernetes client (``CustomObjectsApi`` for the TFJob, ``CoreV1Api`` for the failed pod's log).
Every API error becomes one line naming what was being done and the answer's status; a failed job raises
:class:`TrainingJobFailed` with the operator's reason and the end of the failed worker's log.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TextIO

from kubernetes.client import CoreV1Api, CustomObjectsApi, V1DeleteOptions
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from components.train.request import TrainRequest
from components.train.result import RESULT_FILE
from components.train.tfjob import CONTAINER, GROUP, JOB_NAME_LABEL, PLURAL, REPLICA_TYPE, VERSION

# Job conditions of training-operator v1, most decisive first: the state is the first one whose status is "True".
STATES = ("Failed", "Succeeded", "Suspended", "Restarting", "Running", "Created")
REQUEST_TIMEOUT_SECONDS = 30  # per API call, so a hung API server cannot hang the step
TRANSIENT_STATUSES = frozenset({0, 429, 500, 502, 503, 504})  # 0: no answer at all (connection refused, timeout)
MAX_POLL_ERRORS = 5  # consecutive transient errors while following the job before giving up
LOG_TAIL_LINES = 20
REQUEST_FILE = "request.json"
# The staging directory <checkpoint_root>/<resume key>/ on the shared volume: inputs, request, outputs, backup.
STAGED_INPUTS = ("transformed", "transform_graph", "warm_start")
BACKUP = "backup"


class TrainingJobError(RuntimeError):
    """The training job did not succeed."""


class TrainingJobFailed(TrainingJobError):
    """The operator marked the job Failed (a worker failed more than backoffLimit times, or the deadline passed)."""

    def __init__(self, job: str, reason: str, message: str, pod: str | None = None, log_tail: str = "") -> None:
        self.job, self.reason, self.message, self.pod, self.log_tail = job, reason, message, pod, log_tail
        text = f"TFJob {job} failed: {reason}: {message}"
        if pod and log_tail:
            text += f"\nlast lines of the log of pod {pod}:\n{log_tail.rstrip()}"
        elif pod or log_tail:
            text += f" (pod {pod})" if pod else f" {log_tail}"
        super().__init__(text)


class TrainingJobTimeout(TrainingJobError):
    """The job did not finish within the launcher's timeout."""


class KubernetesApiError(TrainingJobError):
    """The Kubernetes API refused a request or could not be reached."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status

    @property
    def transient(self) -> bool:
        """True when asking again later may succeed."""
        return self.status in TRANSIENT_STATUSES


class TerminatedBySignal(KeyboardInterrupt):
    """The step's pod was told to stop (SIGTERM: the run was canceled or the pod evicted)."""


def describe_api_error(error: ApiException) -> str:
    """``403 Forbidden: <the server's message>`` on one line."""
    message = ""
    with contextlib.suppress(ValueError, TypeError):
        status = json.loads(error.body or "")
        message = str(status.get("message", "")) if isinstance(status, dict) else ""
    text = f"{error.status} {error.reason or ''}".strip()
    if message:
        text += f": {message}"
    return " ".join(text.split())


def _call(action: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, _request_timeout=REQUEST_TIMEOUT_SECONDS, **kwargs)
    except ApiException as error:
        raise KubernetesApiError(f"{action}: {describe_api_error(error)}", error.status or 0) from None
    except HTTPError as error:
        raise KubernetesApiError(f"{action}: the Kubernetes API did not answer ({type(error).__name__})", 0) from None


def job_state(job: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The job's current condition type (``Pending`` before the operator saw it) and that condition."""
    true = {c.get("type"): c for c in job.get("status", {}).get("conditions") or [] if c.get("status") == "True"}
    for state in STATES:
        if state in true:
            return state, true[state]
    return "Pending", {}


def replica_counts(job: Mapping[str, Any], replica_type: str = REPLICA_TYPE) -> str:
    """``2 active, 0 succeeded, 0 failed`` for the job's workers (empty before the operator counted them)."""
    status = (job.get("status", {}).get("replicaStatuses") or {}).get(replica_type)
    if status is None:
        return ""
    return ", ".join(f"{int(status.get(key) or 0)} {key}" for key in ("active", "succeeded", "failed"))


def _failed_container(pod: Any) -> bool | None:
    """None if the pod's training container has not failed; else whether the failure is in the previous run."""
    for status in (pod.status and pod.status.container_statuses) or []:
        if status.name != CONTAINER:
            continue
        if status.state and status.state.terminated and status.state.terminated.exit_code:
            return False
        if status.last_state and status.last_state.terminated and status.last_state.terminated.exit_code:
            return True
    return False if pod.status and pod.status.phase == "Failed" else None


def failed_pod_log(core: CoreV1Api, namespace: str, name: str, lines: int = LOG_TAIL_LINES) -> tuple[str | None, str]:
    """Best effort: (the first failed worker pod of job ``name``, the last ``lines`` of its training log)."""
    try:
        pods = _call(
            f"list the pods of TFJob {namespace}/{name}",
            core.list_namespaced_pod,
            namespace,
            label_selector=f"{JOB_NAME_LABEL}={name}",
        )
    except KubernetesApiError as error:
        return None, f"(could not read the worker logs: {error})"
    for pod in sorted(pods.items, key=lambda p: p.metadata.name):
        previous = _failed_container(pod)
        if previous is None:
            continue
        try:
            text = _call(
                f"read the log of pod {namespace}/{pod.metadata.name}",
                core.read_namespaced_pod_log,
                pod.metadata.name,
                namespace,
                container=CONTAINER,
                tail_lines=lines,
                previous=previous,
            )
        except KubernetesApiError as error:
            return pod.metadata.name, f"(could not read its log: {error})"
        return pod.metadata.name, str(text or "")
    return None, ""


def delete_tfjob(api: CustomObjectsApi, namespace: str, name: str, log: TextIO) -> bool:
    """Delete the job and, in the foreground, its pods. Never raises: says how to clean up by hand instead."""
    try:
        _call(
            f"delete TFJob {namespace}/{name}",
            api.delete_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            body=V1DeleteOptions(propagation_policy="Foreground"),
        )
    except KubernetesApiError as error:
        if error.status == 404:
            return True
        print(f"bigtrain: {error}; delete it by hand: kubectl -n {namespace} delete tfjob {name}", file=log, flush=True)
        return False
    print(f"bigtrain: deleted TFJob {namespace}/{name}", file=log, flush=True)
    return True


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While following a job, SIGTERM (a canceled run) unwinds like Ctrl-C, so the job is deleted too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise TerminatedBySignal(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _read_job(api: CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    return _call(
        f"read TFJob {namespace}/{name}", api.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
    )


def _wait_until_gone(api: CustomObjectsApi, namespace: str, name: str, deadline: float, poll_seconds: float) -> None:
    while True:
        try:
            _read_job(api, namespace, name)
        except KubernetesApiError as error:
            if error.status == 404:
                return
            if not error.transient:
                raise
        if time.monotonic() >= deadline:
            raise TrainingJobTimeout(f"TFJob {namespace}/{name} from an earlier attempt is still being deleted")
        time.sleep(poll_seconds)


def _create(
    api: CustomObjectsApi, manifest: Mapping[str, Any], namespace: str, log: TextIO, deadline: float, poll: float
) -> None:
    name = manifest["metadata"]["name"]
    action = f"create TFJob {namespace}/{name}"
    try:
        _call(action, api.create_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, manifest)
    except KubernetesApiError as error:
        if error.status != 409:
            raise
        # Same name, same step: left by an attempt whose launcher was killed. Resume from its backup instead.
        print(
            f"bigtrain: TFJob {namespace}/{name} exists (an earlier attempt of this step): replacing it",
            file=log,
            flush=True,
        )
        if not delete_tfjob(api, namespace, name, log):
            raise
        _wait_until_gone(api, namespace, name, deadline, poll)
        _call(action, api.create_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, manifest)
    print(f"bigtrain: created TFJob {namespace}/{name}", file=log, flush=True)


def run_tfjob(
    manifest: Mapping[str, Any],
    namespace: str,
    *,
    api: CustomObjectsApi,
    core: CoreV1Api | None = None,
    timeout_seconds: float,
    poll_seconds: float = 10.0,
    log: TextIO | None = None,
) -> str:
    """Create the TFJob ``manifest`` in ``namespace``, wait until it succeeds, and return its name.

    Prints every change of state and of the workers' counts to ``log`` (default: stdout). Raises TrainingJobFailed
    (with the end of the failed worker's log when ``core`` is given), TrainingJobTimeout, or KubernetesApiError (one
    line). The job is deleted (foreground: its pods first) however this ends: success, failure, timeout, Ctrl-C or
    SIGTERM.
    """
    log = sys.stdout if log is None else log
    name = manifest["metadata"]["name"]
    deadline = time.monotonic() + timeout_seconds
    may_exist = True  # from the moment the create request is sent
    with _sigterm_as_interrupt():
        try:
            try:
                _create(api, manifest, namespace, log, deadline, poll_seconds)
            except KubernetesApiError as error:
                may_exist = not 400 <= error.status < 500  # refused: nothing was created
                raise
            _follow(api, core, namespace, name, deadline, timeout_seconds, poll_seconds, log)
            return name
        finally:
            if may_exist:
                delete_tfjob(api, namespace, name, log)


def _follow(
    api: CustomObjectsApi,
    core: CoreV1Api | None,
    namespace: str,
    name: str,
    deadline: float,
    timeout_seconds: float,
    poll_seconds: float,
    log: TextIO,
) -> None:
    """Poll the job until it succeeds (return) or fails, or the deadline passes (raise)."""
    where = f"{namespace}/{name}"
    shown: tuple[str, str] | None = None
    errors = 0
    state = "Pending"
    while True:
        try:
            job = _read_job(api, namespace, name)
            errors = 0
        except KubernetesApiError as error:
            errors += 1
            if not error.transient or errors > MAX_POLL_ERRORS:
                raise
            print(f"bigtrain: {error} (asking again)", file=log, flush=True)
        else:
            state, condition = job_state(job)
            counts = replica_counts(job)
            if (state, counts) != shown:
                shown = (state, counts)
                line = f"bigtrain: TFJob {where}: {state}"
                if counts:
                    line += f" ({REPLICA_TYPE.lower()}s: {counts})"
                if state in ("Restarting", "Suspended", "Failed") and condition.get("message"):
                    line += f": {condition['message']}"
                print(line, file=log, flush=True)
            if state == "Succeeded":
                return
            if state == "Failed":
                pod, tail = failed_pod_log(core, namespace, name) if core is not None else (None, "")
                reason = condition.get("reason") or "Failed"
                raise TrainingJobFailed(where, reason, condition.get("message") or "", pod, tail)
        if time.monotonic() >= deadline:
            raise TrainingJobTimeout(f"TFJob {where} did not finish within {timeout_seconds:g} s (last state: {state})")
        time.sleep(poll_seconds)


def staging_dir(checkpoint_root: str, key: str) -> str:
    """Where a train step stages its job: one directory per resume key, so every attempt of the step shares it."""
    return os.path.join(checkpoint_root, key)


def staged_request(request: TrainRequest, staging: str) -> TrainRequest:
    """``request`` as the job's pods see it: every input and output under ``staging``, the backup in its
    ``backup`` subdirectory (the same for every attempt: a retried step resumes)."""
    return request.model_copy(
        update={
            "transformed_dir": os.path.join(staging, "transformed"),
            "transform_graph_dir": os.path.join(staging, "transform_graph"),
            "warm_start_from": os.path.join(staging, "warm_start") if request.warm_start_from else "",
            "model_dir": os.path.join(staging, "model"),
            "logs_dir": os.path.join(staging, "logs"),
            "backup_dir": os.path.join(staging, BACKUP),
        }
    )


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def stage(request: TrainRequest, staging: str, log: TextIO) -> str:
    """Copy the request's inputs under ``staging`` and write the staged request; returns its path.

    What an earlier attempt left is replaced, except its backup and logs (training resumes from them). A warm-start
    model that this pod cannot see is dropped with a line saying so: the job trains from scratch.
    """
    staged = staged_request(request, staging)
    os.makedirs(staging, exist_ok=True)
    for name in (*STAGED_INPUTS, "model", REQUEST_FILE):
        _remove(os.path.join(staging, name))
    _remove(os.path.join(staged.logs_dir, RESULT_FILE))
    shutil.copytree(request.transformed_dir, staged.transformed_dir)
    shutil.copytree(request.transform_graph_dir, staged.transform_graph_dir)
    if request.warm_start_from:
        if os.path.isdir(request.warm_start_from):
            shutil.copytree(request.warm_start_from, staged.warm_start_from)
        else:
            print(
                f"bigtrain: warm start: {request.warm_start_from} is not visible in this pod; training from scratch",
                file=log,
                flush=True,
            )
            staged = staged.model_copy(update={"warm_start_from": ""})
    path = os.path.join(staging, REQUEST_FILE)
    staged.write(path)
    return path


def collect(staging: str, model_dir: str, logs_dir: str) -> dict[str, Any]:
    """Copy the job's model and logs out of ``staging``; returns the chief's result (``result.json``)."""
    result_path = os.path.join(staging, "logs", RESULT_FILE)
    if not os.path.isfile(result_path) or not os.path.isdir(os.path.join(staging, "model")):
        raise TrainingJobError(
            f"the TFJob succeeded but its chief left no model or no {RESULT_FILE} under {staging} "
            "(is the shared volume ReadWriteMany and mounted at the same path in the job's pods?)"
        )
    with open(result_path) as handle:
        result = json.load(handle)
    shutil.copytree(os.path.join(staging, "model"), model_dir, dirs_exist_ok=True)
    shutil.copytree(os.path.join(staging, "logs"), logs_dir, dirs_exist_ok=True)
    return result


def train_with_tfjob(
    request: TrainRequest,
    staging: str,
    manifest_for: Callable[[str], Mapping[str, Any]],
    namespace: str,
    *,
    api: CustomObjectsApi,
    core: CoreV1Api | None = None,
    timeout_seconds: float,
    poll_seconds: float = 10.0,
    log: TextIO | None = None,
) -> dict[str, Any]:
    """Train ``request`` (as this pod sees it) with the TFJob ``manifest_for(staged request path)``.

    Stages the inputs under ``staging`` on the shared volume, runs the job, copies the model and logs to
    ``request.model_dir`` and ``request.logs_dir`` and returns the chief's result. On success the staging directory
    goes; on failure only the staged inputs and model go, and the backup stays for the next attempt.
    """
    log = sys.stdout if log is None else log
    request_path = stage(request, staging, log)
    try:
        run_tfjob(
            manifest_for(request_path),
            namespace,
            api=api,
            core=core,
            timeout_seconds=timeout_seconds,
            poll_seconds=poll_seconds,
            log=log,
        )
        result = collect(staging, request.model_dir, request.logs_dir)
    except BaseException:
        for name in (*STAGED_INPUTS, "model"):
            _remove(os.path.join(staging, name))
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return result
