"""A thin, quiet wrapper around ``kfp.Client`` (KFP v2beta1 REST API) for ``submit`` and ``schedule``.

It does three things the plain client does not:

- every failure becomes one :class:`KfpError` line: ``cannot reach Kubeflow Pipelines at URL: <reason>`` for
  connection refused, DNS and timeouts, or the HTTP status, what bigtrain was doing and the server's message for
  an API error. The bearer token is removed from every message;
- requests time out (the generated client waits forever by default), and the health check is tried once instead
  of kfp's five tries with 5 s sleeps and logged tracebacks;
- kfp's printed "details" links and its FutureWarning stay off the terminal, and it never writes
  ``~/.config/kfp/context.json``.

The exit code for every KfpError is 1 (the cluster or the API failed); 2 stays for bad input (config, flags,
token file).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import kfp
import kfp_server_api
import urllib3

from pipelines.kubeflow.auth import BearerToken, find_token

T = TypeVar("T")
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 120.0
HOST_ENV = "KF_PIPELINES_ENDPOINT"
ACTIVE_RUN_STATES = ("PENDING", "RUNNING", "CANCELING", "PAUSED")
_ADDRESS_PREFIX = re.compile(r"^\w+\([^)]*\): ")


class KfpError(Exception):
    """A Kubeflow Pipelines call failed; ``str`` is the one line to show."""


class KfpUnreachable(KfpError):
    """No HTTP answer: connection refused, DNS, TLS or a timeout."""


class KfpApiError(KfpError):
    """The API answered with an HTTP error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def equals_filter(key: str, value: str) -> str:
    """A v2beta1 list filter: ``key == value``."""
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": key, "string_value": value}]})


def _server_message(error: kfp_server_api.ApiException) -> str:
    body = error.body.decode(errors="replace") if isinstance(error.body, bytes) else str(error.body or "")
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        body = str(parsed.get("message") or parsed.get("error") or body)
    text = " ".join(body.split()) or str(error.reason or "no message")
    return text if len(text) <= 400 else text[:400] + "…"


def _network_reason(error: BaseException) -> str:
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        error = error.reason
    text = _ADDRESS_PREFIX.sub("", " ".join(str(error).split()))
    return text.removeprefix("Failed to establish a new connection: ") or type(error).__name__


class _Client(kfp.Client):
    """kfp.Client with request timeouts, a single-try health check and no writes to ``~/.config/kfp``."""

    def __init__(self, *, timeout: tuple[float, float], **kwargs: Any) -> None:
        self._timeout = timeout
        super().__init__(**kwargs)
        rest = self._healthz_api.api_client.rest_client  # kfp 2.17.3 keeps its ApiClient private
        request = rest.request

        def request_with_timeout(*args: Any, _request_timeout: Any = None, **kw: Any) -> Any:
            return request(*args, _request_timeout=_request_timeout or timeout, **kw)

        rest.request = request_with_timeout

    def get_kfp_healthz(self, sleep_duration: int = 0) -> kfp_server_api.V2beta1GetHealthzResponse:
        """One health check (kfp's own retries five times, sleeping and logging tracebacks)."""
        return self.healthzs.healthz_service_get_healthz(_request_timeout=self._timeout)

    def set_user_namespace(self, namespace: str) -> None:
        """Remember the namespace for this client only (kfp's writes ~/.config/kfp/context.json)."""
        self._context_setting["namespace"] = namespace


class KfpApi:
    """The KFP calls bigtrain makes, each with the purpose that names it in errors."""

    def __init__(
        self,
        host: str,
        namespace: str,
        token: BearerToken | None = None,
        *,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
    ) -> None:
        self.host = host.rstrip("/")
        self.namespace = namespace
        self._secret = token.value if token else None
        self.client: kfp.Client = self._call(
            "connecting",
            _Client,
            host=self.host,
            namespace=namespace,
            existing_token=self._secret,
            ui_host=self.host,
            timeout=timeout,
        )

    def redact(self, text: str) -> str:
        """``text`` with the bearer token replaced by ``<token>``."""
        return text.replace(self._secret, "<token>") if self._secret else text

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield

    def _call(self, purpose: str, method: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        try:
            with self._quiet():
                return method(*args, **kwargs)
        except kfp_server_api.ApiException as error:
            if not error.status:  # TLS and other failures before any HTTP answer
                reason = str(error.reason or "no answer").splitlines()[0]
                raise KfpUnreachable(self.redact(self._unreachable(reason))) from None
            status = f"{error.status} {error.reason}" if error.reason else str(error.status)
            message = f"Kubeflow Pipelines answered {status} while {purpose}: {_server_message(error)}"
            raise KfpApiError(error.status, self.redact(message)) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise KfpUnreachable(self.redact(self._unreachable(_network_reason(error)))) from None

    def _unreachable(self, reason: str) -> str:
        return f"cannot reach Kubeflow Pipelines at {self.host}: {reason}"

    def run_url(self, run_id: str) -> str:
        """The run's page in the KFP UI."""
        return f"{self.host}/#/runs/details/{run_id}"

    def check_health(self) -> None:
        """Fail early, with one line, when the API is unreachable, refuses us, or is not the KFP API at all (an
        auth proxy's login page answers 200 with HTML, which the generated client would read as empty objects)."""
        response = self._call(
            "checking the API health", self.client.healthzs.healthz_service_get_healthz, _preload_content=False
        )
        content_type = response.headers.get("Content-Type", "")
        try:
            answer = json.loads(response.data) if "json" in content_type else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise KfpError(
                f"{self.host} is not answering as the Kubeflow Pipelines API (GET /apis/v2beta1/healthz gave "
                f"{content_type or 'no content type'}, not JSON): check --host (the API, e.g. a port-forward to "
                "ml-pipeline:8888, or the gateway with a valid token)"
            )

    # pipelines
    def find_pipeline(self, name: str) -> str | None:
        """The id of the pipeline named ``name`` in our namespace, or None."""
        found = self._call(
            "looking up the pipeline",
            self.client.list_pipelines,
            filter=equals_filter("display_name", name),
            namespace=self.namespace,
            page_size=2,
        )
        pipelines = found.pipelines or []
        if len(pipelines) > 1:
            raise KfpError(f"{len(pipelines)} pipelines are named {name!r} in namespace {self.namespace}")
        return pipelines[0].pipeline_id if pipelines else None

    def upload_pipeline(self, package: str, name: str, description: str) -> str:
        """Upload a new pipeline (KFP also makes its first version); returns the pipeline id."""
        pipeline = self._call(
            "uploading the pipeline",
            self.client.upload_pipeline,
            package,
            pipeline_name=name,
            description=description,
            namespace=self.namespace,
        )
        return pipeline.pipeline_id

    def upload_version(self, package: str, pipeline_id: str, version_name: str, description: str) -> str:
        """Upload a new version of an existing pipeline; returns the version id."""
        version = self._call(
            "uploading a pipeline version",
            self.client.upload_pipeline_version,
            package,
            pipeline_version_name=version_name,
            pipeline_id=pipeline_id,
            description=description,
        )
        return version.pipeline_version_id

    def newest_version(self, pipeline_id: str) -> str:
        """The id of the pipeline's most recent version."""
        found = self._call(
            "looking up the pipeline version",
            self.client.list_pipeline_versions,
            pipeline_id,
            sort_by="created_at desc",
            page_size=1,
        )
        if not found.pipeline_versions:
            raise KfpError(f"pipeline {pipeline_id} has no version after the upload")
        return found.pipeline_versions[0].pipeline_version_id

    # experiments and runs
    def ensure_experiment(self, name: str) -> str:
        """The id of the experiment ``name`` in our namespace, created when missing."""
        experiment = self._call(
            "getting or creating the experiment", self.client.create_experiment, name, namespace=self.namespace
        )
        return experiment.experiment_id

    def create_run(self, **kwargs: Any) -> kfp_server_api.V2beta1Run:
        """``kfp.Client.run_pipeline`` (its ``service_account=`` goes into the request body)."""
        return self._call("creating the run", self.client.run_pipeline, **kwargs)

    def get_run(self, run_id: str) -> kfp_server_api.V2beta1Run:
        """The run with its state and task details."""
        return self._call("getting the run status", self.client.get_run, run_id)

    def _all_pages(self, purpose: str, method: Callable[..., Any], items: str, **kwargs: Any) -> list[Any]:
        """Every item of a paged KFP list call (``items`` names the list field of a page)."""
        found: list[Any] = []
        token = ""
        while True:
            page = self._call(purpose, method, page_token=token, page_size=100, namespace=self.namespace, **kwargs)
            found += getattr(page, items) or []
            token = page.next_page_token or ""
            if not token:
                return found

    def active_runs(self, recurring_run_id: str) -> list[kfp_server_api.V2beta1Run]:
        """Runs started by ``recurring_run_id`` that have not finished (deleting it would kill them)."""
        predicates = [
            {"operation": "EQUALS", "key": "recurring_run_id", "string_value": recurring_run_id},
            {"operation": "IN", "key": "state", "string_values": {"values": list(ACTIVE_RUN_STATES)}},
        ]
        runs = self._all_pages(
            "listing the runs of a recurring run",
            self.client.list_runs,
            "runs",
            filter=json.dumps({"predicates": predicates}),
        )
        # Checked here too: a server that ignored part of the filter must not make us delete a busy one.
        return [run for run in runs if run.recurring_run_id == recurring_run_id and str(run.state) in ACTIVE_RUN_STATES]

    # recurring runs
    def create_recurring_run(self, **kwargs: Any) -> kfp_server_api.V2beta1RecurringRun:
        """``kfp.Client.create_recurring_run``."""
        return self._call("creating the recurring run", self.client.create_recurring_run, **kwargs)

    def recurring_runs(self, filter: str | None = None) -> list[kfp_server_api.V2beta1RecurringRun]:
        """All recurring runs in our namespace (optionally filtered), oldest first."""
        return self._all_pages(
            "listing recurring runs",
            self.client.list_recurring_runs,
            "recurring_runs",
            sort_by="created_at",
            filter=filter,
        )

    def disable_recurring_run(self, recurring_run_id: str) -> None:
        """Stop a recurring run from starting new runs (its running run keeps going)."""
        self._call("disabling a recurring run", self.client.disable_recurring_run, recurring_run_id)

    def delete_recurring_run(self, recurring_run_id: str) -> None:
        """Delete a recurring run (Kubernetes then deletes the runs it owns, running or not)."""
        self._call("deleting a recurring run", self.client.delete_recurring_run, recurring_run_id)


def connect(host: str | None, namespace: str) -> KfpApi:
    """A checked connection to the KFP API at ``host`` (default: ``$KF_PIPELINES_ENDPOINT``) with the bearer token
    from the environment, if any."""
    host = host or os.environ.get(HOST_ENV, "")
    if not host:
        raise ValueError(f"--host: required (the KFP API URL, e.g. http://localhost:8080), or set {HOST_ENV}")
    if not host.startswith(("http://", "https://")):
        raise ValueError(f"--host {host!r}: give the API URL, like http://localhost:8080 or https://kubeflow.example")
    api = KfpApi(host, namespace, find_token())
    api.check_health()
    return api
