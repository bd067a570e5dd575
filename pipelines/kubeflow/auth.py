"""The bearer token for the Kubeflow Pipelines API, and nothing that could leak it.

Looked up in this order (the first one found wins):

1. ``KF_PIPELINES_TOKEN``: the token itself;
2. ``KF_PIPELINES_TOKEN_FILE``: a file holding it (an error when the file is missing or empty);
3. in a pod: KFP's projected token (``/var/run/secrets/kubeflow/pipelines/token``, audience
   ``pipelines.kubeflow.org``, what a multi-user KFP accepts), then the plain service-account token;
4. none: talk to the API without ``Authorization`` (a port-forward to a single-user KFP).

The value never appears in ``repr``/``str`` of :class:`BearerToken`, in errors or in messages; only its source does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_ENV = "KF_PIPELINES_TOKEN"
TOKEN_FILE_ENV = "KF_PIPELINES_TOKEN_FILE"
POD_TOKEN_PATHS = (
    Path("/var/run/secrets/kubeflow/pipelines/token"),
    Path("/var/run/secrets/kubernetes.io/serviceaccount/token"),
)


class TokenError(ValueError):
    """The configured token cannot be read. The message names the variable or path, never the value."""


@dataclass(frozen=True)
class BearerToken:
    """A bearer token and where it came from. ``repr`` shows the source only."""

    value: str = field(repr=False)
    source: str

    def __str__(self) -> str:
        return f"token from {self.source}"


def _read(path: Path, what: str) -> str:
    try:
        value = path.read_text().strip()
    except OSError as error:
        raise TokenError(f"{what}: cannot read {path}: {error.strerror or type(error).__name__}") from None
    if not value:
        raise TokenError(f"{what}: {path} is empty")
    return value


def find_token(
    env: Mapping[str, str] | None = None, pod_token_paths: Sequence[Path] | None = None
) -> BearerToken | None:
    """The bearer token to send, or None. Raises TokenError when ``KF_PIPELINES_TOKEN_FILE`` cannot be read.

    ``env`` defaults to ``os.environ`` and ``pod_token_paths`` to :data:`POD_TOKEN_PATHS` (tests override both).
    """
    env = os.environ if env is None else env
    pod_token_paths = POD_TOKEN_PATHS if pod_token_paths is None else pod_token_paths
    if value := env.get(TOKEN_ENV, "").strip():
        return BearerToken(value, TOKEN_ENV)
    if file := env.get(TOKEN_FILE_ENV, "").strip():
        return BearerToken(_read(Path(file), TOKEN_FILE_ENV), f"{TOKEN_FILE_ENV} ({file})")
    for path in pod_token_paths:
        if path.is_file():
            return BearerToken(_read(path, "service-account token"), str(path))
    return None
