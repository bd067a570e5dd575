"""``bigtrain submit``: publish a compiled pipeline as a new version, start a run with the config's service
account, and optionally follow it to the end.

The building blocks take an already compiled pipeline YAML; :func:`submit` is the CLI glue that compiles the
config with ``compile_for_cluster`` first.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import kfp_server_api
import yaml

from pipelines.config import ConfigError, RunConfig
from pipelines.kubeflow.client import KfpApi, KfpApiError, KfpError, KfpUnreachable, connect
from pipelines.version import bigtrain_version

TERMINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELED", "SKIPPED")
ICONS = {"SUCCEEDED": "✓", "FAILED": "✗", "CANCELED": "⊘", "CANCELING": "⊘", "SKIPPED": "–", "RUNNING": "▸"}
DEFAULT_TIMEOUT_S = 24 * 3600
DEFAULT_POLL_S = 10.0
POLL_RETRIES = 3
_SYSTEM_TASKS = ("root", "executor")


@dataclass(frozen=True)
class Target:
    """Where runs of one config go and as whom they run."""

    pipeline_name: str
    namespace: str
    experiment: str
    service_account: str


@dataclass(frozen=True)
class Published:
    """A pipeline version on the server, pinned by id."""

    pipeline_id: str
    version_id: str
    version_name: str
    new_pipeline: bool


@dataclass(frozen=True)
class RunOutcome:
    """How a followed run ended: a terminal state, or ``TIMEOUT`` with the last state seen."""

    state: str
    last_state: str
    failed_steps: list[str] = field(default_factory=list)
    error: str | None = None


def target_for(config: RunConfig, namespace: str | None = None, experiment: str | None = None) -> Target:
    """The target of ``config``; ``namespace``/``experiment`` override the ``cluster:`` section."""
    cluster = config.cluster
    if cluster is None:
        raise ConfigError("cluster: required to submit or schedule on Kubeflow")
    return Target(
        pipeline_name=f"bigtrain-{config.name}",
        namespace=namespace or cluster.namespace,
        experiment=experiment or cluster.experiment or f"bigtrain-{config.name}",
        service_account=cluster.service_account,
    )


def _pipeline_spec(package: Path) -> dict[str, Any]:
    spec = next(iter(yaml.safe_load_all(package.read_text())), None)
    if not isinstance(spec, dict):
        raise ValueError(f"{package}: not a compiled KFP pipeline")
    return spec


def code_hash(package: Path) -> str:
    """8 hex characters for the code in a compiled pipeline: its per-step ``*_code`` parameter defaults (the code
    versions baked in at compile time), or the whole file when it has none."""
    parameters = _pipeline_spec(package).get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    code = {name: p.get("defaultValue") for name, p in parameters.items() if name.endswith("_code")}
    payload = json.dumps(code, sort_keys=True).encode() if code else package.read_bytes()
    return hashlib.sha256(payload).hexdigest()[:8]


def step_names(package: Path) -> list[str]:
    """The container steps of a compiled pipeline (task display names), in file order."""
    spec = _pipeline_spec(package)
    components = spec.get("components", {})
    dags = [spec.get("root", {}).get("dag", {})] + [c.get("dag", {}) for c in components.values()]
    names: list[str] = []
    for dag in dags:
        for key, task in (dag.get("tasks") or {}).items():
            component = components.get(task.get("componentRef", {}).get("name", ""), {})
            name = task.get("taskInfo", {}).get("name", key)
            if "executorLabel" in component and name not in names:
                names.append(name)
    return names


def version_name(pipeline_name: str, package: Path, now: datetime) -> str:
    """``<pipeline>-<UTC yyyymmdd-hhmmss-micro>-<code hash>``: unique per upload, readable in the KFP UI."""
    return f"{pipeline_name}-{now.astimezone(UTC):%Y%m%d-%H%M%S-%f}-{code_hash(package)}"


def publish(api: KfpApi, package: Path, pipeline_name: str, now: datetime) -> Published:
    """Upload ``package`` as pipeline ``pipeline_name``, or as a new version of it when it exists."""
    description = f"bigtrain {bigtrain_version()}, code {code_hash(package)}"
    pipeline_id = api.find_pipeline(pipeline_name)
    if pipeline_id is None:
        try:
            pipeline_id = api.upload_pipeline(str(package), pipeline_name, description)
            return Published(pipeline_id, api.newest_version(pipeline_id), pipeline_name, new_pipeline=True)
        except KfpApiError as error:
            if error.status != 409:  # 409: someone uploaded it just now; add our version to theirs
                raise
            pipeline_id = api.find_pipeline(pipeline_name)
            if pipeline_id is None:
                raise
    name = version_name(pipeline_name, package, now)
    return Published(pipeline_id, api.upload_version(str(package), pipeline_id, name, description), name, False)


def start_run(
    api: KfpApi, published: Published, target: Target, run_name: str, parameters: Mapping[str, Any] | None = None
) -> str:
    """Start a run of the pinned version in the target's experiment as its service account; returns the run id."""
    experiment_id = api.ensure_experiment(target.experiment)
    run = api.create_run(
        experiment_id=experiment_id,
        job_name=run_name,
        pipeline_id=published.pipeline_id,
        version_id=published.version_id,
        params=dict(parameters or {}),
        service_account=target.service_account,
    )
    return run.run_id


def _task_key(index: int, task: kfp_server_api.V2beta1PipelineTaskDetail) -> tuple[str, int]:
    started = task.create_time or task.start_time
    return (started.isoformat() if started else "", index)


def task_states(run: kfp_server_api.V2beta1Run, steps: list[str]) -> dict[str, tuple[str, str | None]]:
    """Step name → (state, error message) from the run's task details, the latest attempt of each step.

    Only the pipeline's own steps when ``steps`` is given; else every task but KFP's root and driver tasks.
    """
    tasks = (run.run_details.task_details if run.run_details else None) or []
    latest: dict[str, tuple[str, str | None]] = {}
    for _, task in sorted(enumerate(tasks), key=lambda pair: _task_key(*pair)):
        name = task.display_name or ""
        wanted = name in steps if steps else name not in _SYSTEM_TASKS and not name.endswith("-driver")
        if wanted:
            latest[name] = (str(task.state or "PENDING"), task.error.message if task.error else None)
    order = {name: i for i, name in enumerate(steps)}
    return dict(sorted(latest.items(), key=lambda item: order.get(item[0], len(order))))


def watch_run(
    api: KfpApi,
    run_id: str,
    steps: list[str],
    *,
    timeout: float,
    poll_interval: float,
    out: TextIO,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RunOutcome:
    """Poll the run until it ends or ``timeout`` seconds pass, printing each step whose state changed.

    Up to :data:`POLL_RETRIES` polls in a row may fail transiently (unreachable, HTTP 5xx: an API server restart
    during a long run) before the error is raised.
    """
    deadline = clock() + timeout
    shown: dict[str, str] = {}
    failures = 0
    state = "PENDING"
    while True:
        try:
            run = api.get_run(run_id)
            failures = 0
        except KfpError as error:
            failures += 1
            if not _transient(error) or failures > POLL_RETRIES:
                raise
        else:
            tasks = task_states(run, steps)
            for name, (task_state, _) in tasks.items():
                if shown.get(name) != task_state:
                    shown[name] = task_state
                    out.write(f"  {ICONS.get(task_state, '·')} {name:<17} {task_state}\n")
                    out.flush()
            state = str(run.state or "PENDING")
            if state in TERMINAL_STATES:
                failed = [name for name, (task_state, _) in tasks.items() if task_state == "FAILED"]
                errors = [tasks[name][1] for name in failed if tasks[name][1]]
                run_error = run.error.message if run.error else None
                error = (errors or [run_error])[0]
                return RunOutcome(state, state, failed, api.redact(error) if error else None)
        remaining = deadline - clock()
        if remaining <= 0:
            return RunOutcome("TIMEOUT", state)
        sleep(min(poll_interval, remaining))


def _transient(error: KfpError) -> bool:
    return isinstance(error, KfpUnreachable) or (isinstance(error, KfpApiError) and error.status >= 500)


def compile_package(config: RunConfig, directory: Path, image: str | None, err: TextIO) -> Path:
    """Compile ``config`` for the cluster into ``directory``, printing each compile warning."""
    from pipelines.kubeflow.compile import compile_for_cluster

    compiled = compile_for_cluster(config, directory / "pipeline.yaml", image=image)
    for warning in compiled.warnings:
        err.write(f"bigtrain: warning: {warning}\n")
    return Path(compiled.path)


def describe_published(published: Published, pipeline_name: str) -> str:
    """One line about what was uploaded."""
    if published.new_pipeline:
        return f"bigtrain: uploaded new pipeline {pipeline_name} (its first version {published.version_id})"
    return f"bigtrain: uploaded pipeline version {published.version_name} of {pipeline_name}"


def submit(
    config: RunConfig,
    host: str | None,
    *,
    image: str | None = None,
    experiment: str | None = None,
    namespace: str | None = None,
    wait: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    poll_interval: float = DEFAULT_POLL_S,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``bigtrain submit``: compile, publish, start a run; with ``wait``, follow it. Returns the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    target = target_for(config, namespace, experiment)
    with tempfile.TemporaryDirectory(prefix="bigtrain-submit-") as directory:
        package = compile_package(config, Path(directory), image, err)
        api = connect(host, target.namespace)
        now = datetime.now(UTC)
        published = publish(api, package, target.pipeline_name, now)
        out.write(describe_published(published, target.pipeline_name) + "\n")
        run_id = start_run(api, published, target, f"{target.pipeline_name}-{now:%Y%m%d-%H%M%S}")
        steps = step_names(package)
    out.write(
        f"bigtrain: started run {run_id} in experiment {target.experiment} "
        f"(namespace {target.namespace}, service account {target.service_account})\n"
        f"bigtrain: {api.run_url(run_id)}\n"
    )
    out.flush()
    if not wait:
        return 0
    try:
        outcome = watch_run(api, run_id, steps, timeout=timeout, poll_interval=poll_interval, out=out)
    except KeyboardInterrupt:
        err.write(f"bigtrain: stopped following run {run_id}; it keeps running on the cluster: {api.run_url(run_id)}\n")
        return 130
    return report_outcome(outcome, run_id, api.run_url(run_id), timeout, out, err)


def report_outcome(outcome: RunOutcome, run_id: str, url: str, timeout: float, out: TextIO, err: TextIO) -> int:
    """Print how the followed run ended; 0 when it succeeded, else 1."""
    if outcome.state == "SUCCEEDED":
        out.write(f"bigtrain: run {run_id} SUCCEEDED\n")
        return 0
    if outcome.state == "TIMEOUT":
        err.write(
            f"bigtrain: error: run {run_id} still {outcome.last_state} after {timeout:g} s (--timeout); "
            f"it keeps running on the cluster: {url}\n"
        )
        return 1
    where = f" at step {', '.join(outcome.failed_steps)}" if outcome.failed_steps else ""
    why = f": {' '.join(outcome.error.split())}" if outcome.error else ""
    err.write(f"bigtrain: error: run {run_id} {outcome.state}{where}{why} ({url})\n")
    return 1
