"""The TFJob launcher against a fake Kubernetes API (tests/train_cluster/fake_k8s.py) through the real official
client: the requests it sends and what it does with the answers. This proves the requests, not the cluster."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client import ApiClient, Configuration, CoreV1Api, CustomObjectsApi

from components.train.cluster_launcher import (
    KubernetesApiError,
    TrainingJobFailed,
    TrainingJobTimeout,
    run_tfjob,
)
from components.train.tfjob import tfjob_manifest
from tests.train_cluster.fake_k8s import (
    CREATED,
    RESTARTING,
    RUNNING,
    SUCCEEDED,
    FakeKubernetes,
    FakePod,
    JobState,
    failed,
)

NAMESPACE = "bigtrain"
NAME = "bigtrain-train-0123456789abcdef"
JOBS = f"/apis/kubeflow.org/v1/namespaces/{NAMESPACE}/tfjobs"
JOB = f"{JOBS}/{NAME}"
FAST = {"poll_seconds": 0.01}


@pytest.fixture
def k8s() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as server:
        yield server


@pytest.fixture
def clients(k8s: FakeKubernetes) -> Iterator[dict[str, Any]]:
    with ApiClient(Configuration(host=k8s.url)) as api_client:
        yield {"api": CustomObjectsApi(api_client), "core": CoreV1Api(api_client)}


def manifest(workers: int = 2) -> dict[str, Any]:
    return tfjob_manifest(
        NAME,
        NAMESPACE,
        "registry.example.com/bigtrain-gpu@sha256:" + "1" * 64,
        workers,
        ["python3", "-m", "components.train.main", "/mnt/shared/ckpt/0123456789abcdef/request.json"],
        "bigtrain-pipeline-runner",
        {"cpu_request": "1", "cpu_limit": "2", "memory_request": "1G", "memory_limit": "2G"},
        {"accelerator": "nvidia.com/gpu", "count": 1},
        {"pvc": "bigtrain-shared", "mount_path": "/mnt/shared"},
        run="0123456789abcdef",
        active_deadline_seconds=600,
    )


def _deletes(k8s: FakeKubernetes) -> list[Any]:
    return [(r.path, r.body) for r in k8s.calls("DELETE")]


def test_success_creates_the_manifest_prints_each_state_and_deletes_the_job(k8s: FakeKubernetes, clients):
    log = io.StringIO()
    job = manifest()
    assert run_tfjob(job, NAMESPACE, timeout_seconds=10, log=log, **clients, **FAST) == NAME
    (create,) = k8s.calls("POST")
    assert create.path == JOBS and create.body == job
    assert [r.path for r in k8s.calls("GET")] == [JOB] * 3  # Created, Running, Succeeded
    assert _deletes(k8s) == [(JOB, {"propagationPolicy": "Foreground"})]
    assert k8s.requests[-1].method == "DELETE" and not k8s.jobs
    assert log.getvalue().splitlines() == [
        f"bigtrain: created TFJob {NAMESPACE}/{NAME}",
        f"bigtrain: TFJob {NAMESPACE}/{NAME}: Created",
        f"bigtrain: TFJob {NAMESPACE}/{NAME}: Running (workers: 2 active, 0 succeeded, 0 failed)",
        f"bigtrain: TFJob {NAMESPACE}/{NAME}: Succeeded (workers: 0 active, 1 succeeded, 0 failed)",
        f"bigtrain: deleted TFJob {NAMESPACE}/{NAME}",
    ]


def test_a_state_is_printed_once_and_count_changes_and_restarts_are_shown(k8s: FakeKubernetes, clients):
    k8s.script(NAME, [CREATED, RUNNING, RUNNING, RUNNING, JobState("Running", active=1), RESTARTING, SUCCEEDED])
    log = io.StringIO()
    run_tfjob(manifest(), NAMESPACE, timeout_seconds=10, log=log, **clients, **FAST)
    states = [line.split(": ", 2)[-1] for line in log.getvalue().splitlines() if "TFJob bigtrain/" in line]
    assert states[1:-1] == [
        "Created",
        "Running (workers: 2 active, 0 succeeded, 0 failed)",
        "Running (workers: 1 active, 0 succeeded, 0 failed)",
        f"Restarting (workers: 1 active, 0 succeeded, 1 failed): {RESTARTING.message}",
        "Succeeded (workers: 0 active, 1 succeeded, 0 failed)",
    ]


def test_failed_worker_raises_with_the_reason_and_the_pods_last_log_lines(k8s: FakeKubernetes, clients):
    traceback = "\n".join(f"epoch {i}" for i in range(40)) + "\nTraceback (most recent call last):\nValueError: boom"
    k8s.script(
        NAME,
        [CREATED, RUNNING, failed("TFJobFailed", f"TFJob {NAMESPACE}/{NAME} has failed because 1 Worker replica(s)")],
        pods=[
            FakePod(f"{NAME}-worker-0", "epoch 1\n"),
            FakePod(f"{NAME}-worker-1", traceback, exit_code=1, restarted=True),
        ],
    )
    log = io.StringIO()
    with pytest.raises(TrainingJobFailed) as raised:
        run_tfjob(manifest(), NAMESPACE, timeout_seconds=10, log=log, **clients, **FAST)
    error = raised.value
    assert error.reason == "TFJobFailed" and error.pod == f"{NAME}-worker-1"
    assert str(error).startswith(f"TFJob {NAMESPACE}/{NAME} failed: TFJobFailed: TFJob {NAMESPACE}/{NAME} has failed")
    assert str(error).splitlines()[-1] == "ValueError: boom"
    assert len(error.log_tail.splitlines()) == 20
    (listing,) = k8s.calls("GET", "/pods")[:1]
    assert listing.path == f"/api/v1/namespaces/{NAMESPACE}/pods"
    assert listing.param("labelSelector") == f"training.kubeflow.org/job-name={NAME}"
    (read,) = k8s.calls("GET", "/log")
    assert read.path == f"/api/v1/namespaces/{NAMESPACE}/pods/{NAME}-worker-1/log"
    # The previous (crashed) run of the restarted container; the client spells the boolean "True".
    assert (read.param("container"), read.param("tailLines"), read.param("previous")) == ("tensorflow", "20", "True")
    assert _deletes(k8s) == [(JOB, {"propagationPolicy": "Foreground"})]
    assert f"Failed (workers: 1 active, 0 succeeded, 1 failed): TFJob {NAMESPACE}/{NAME} has failed" in log.getvalue()


def test_failed_job_whose_logs_cannot_be_read_still_fails_clearly(k8s: FakeKubernetes, clients):
    k8s.script(NAME, [CREATED, failed("DeadlineExceeded", "TFJob is running more than activeDeadlineSeconds")])
    k8s.fail("GET", r"/pods$", 403, 'pods is forbidden: User "system:serviceaccount:bigtrain:x" cannot list pods')
    with pytest.raises(TrainingJobFailed) as raised:
        run_tfjob(manifest(), NAMESPACE, timeout_seconds=10, log=io.StringIO(), **clients, **FAST)
    assert raised.value.reason == "DeadlineExceeded" and raised.value.pod is None
    assert "could not read the worker logs" in raised.value.log_tail and "403 Forbidden" in raised.value.log_tail
    assert str(raised.value).endswith(raised.value.log_tail) and "\n" not in str(raised.value)
    assert len(_deletes(k8s)) == 1


def test_timeout_raises_and_deletes_the_job(k8s: FakeKubernetes, clients):
    k8s.script(NAME, [CREATED, RUNNING])  # running forever
    started = time.monotonic()
    with pytest.raises(TrainingJobTimeout, match=r"did not finish within 0.3 s \(last state: Running\)"):
        run_tfjob(manifest(), NAMESPACE, timeout_seconds=0.3, log=io.StringIO(), **clients, **FAST)
    assert time.monotonic() - started < 5
    assert _deletes(k8s) == [(JOB, {"propagationPolicy": "Foreground"})]


def test_forbidden_create_is_one_line_and_sends_nothing_else(k8s: FakeKubernetes, clients):
    message = (
        'tfjobs.kubeflow.org is forbidden: User "system:serviceaccount:bigtrain:default" cannot create resource '
        '"tfjobs" in API group "kubeflow.org" in the namespace "bigtrain"'
    )
    k8s.fail("POST", r"/tfjobs$", 403, message)
    with pytest.raises(KubernetesApiError) as raised:
        run_tfjob(manifest(), NAMESPACE, timeout_seconds=10, log=io.StringIO(), **clients, **FAST)
    assert str(raised.value) == f"create TFJob {NAMESPACE}/{NAME}: 403 Forbidden: {message}"
    assert "\n" not in str(raised.value) and raised.value.status == 403
    assert [r.method for r in k8s.requests] == ["POST"]  # nothing was created, so nothing to delete


def test_forbidden_read_after_create_is_one_line_and_the_job_is_deleted(k8s: FakeKubernetes, clients):
    k8s.fail("GET", r"/tfjobs/", 403, "tfjobs.kubeflow.org is forbidden: cannot get resource")
    with pytest.raises(KubernetesApiError, match=r"^read TFJob bigtrain/\S+: 403 Forbidden: tfjobs.kubeflow.org is"):
        run_tfjob(manifest(), NAMESPACE, timeout_seconds=10, log=io.StringIO(), **clients, **FAST)
    assert len(_deletes(k8s)) == 1


def test_a_passing_api_server_error_while_following_is_retried(k8s: FakeKubernetes, clients):
    k8s.fail("GET", r"/tfjobs/", 503, "etcdserver: leader changed", times=2)
    log = io.StringIO()
    run_tfjob(manifest(), NAMESPACE, timeout_seconds=10, log=log, **clients, **FAST)
    assert log.getvalue().count("503 Service Unavailable: etcdserver: leader changed (asking again)") == 2
    assert "Succeeded" in log.getvalue()


def test_a_job_left_by_an_earlier_attempt_is_replaced(k8s: FakeKubernetes, clients):
    stale = manifest()
    stale["metadata"]["labels"]["stale"] = "yes"
    k8s.put_job(NAMESPACE, stale)
    log = io.StringIO()
    run_tfjob(manifest(), NAMESPACE, timeout_seconds=10, log=log, **clients, **FAST)
    methods = [(r.method, r.path) for r in k8s.requests]
    assert methods[:4] == [("POST", JOBS), ("DELETE", JOB), ("GET", JOB), ("POST", JOBS)]
    assert "exists (an earlier attempt of this step): replacing it" in log.getvalue()
    assert k8s.calls("POST")[1].body == manifest()


def test_failed_delete_does_not_hide_success_but_says_how_to_clean_up(k8s: FakeKubernetes, clients):
    k8s.fail("DELETE", r"/tfjobs/", 403, "cannot delete")
    log = io.StringIO()
    assert run_tfjob(manifest(), NAMESPACE, timeout_seconds=10, log=log, **clients, **FAST) == NAME
    assert f"delete it by hand: kubectl -n {NAMESPACE} delete tfjob {NAME}" in log.getvalue()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_or_termination_deletes_the_job(k8s: FakeKubernetes, clients, signum: int, sigint_raises):
    k8s.script(NAME, [CREATED, RUNNING])
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signum))
    handler = signal.getsignal(signal.SIGTERM)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_tfjob(manifest(), NAMESPACE, timeout_seconds=10, log=io.StringIO(), **clients, **FAST)
    finally:
        timer.cancel()
    assert _deletes(k8s) == [(JOB, {"propagationPolicy": "Foreground"})]
    assert signal.getsignal(signal.SIGTERM) is handler  # put back
