"""Posting a run's status to a webhook. The URL is a secret: it is never printed, logged or stored."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

WEBHOOK_ENV = "BIGTRAIN_WEBHOOK_URL"  # set from a Kubernetes Secret on Kubeflow, from your shell locally
TIMEOUT_SECONDS = 10.0


def post_status(payload: dict[str, Any], url: str | None = None) -> str:
    """POST ``payload`` as JSON to ``url`` (default: ``$BIGTRAIN_WEBHOOK_URL``); returns what happened, in words.

    A failed notification never fails the run: the outcome is returned (and printed by the caller) instead.
    """
    target = url if url is not None else os.environ.get(WEBHOOK_ENV, "")
    if not target:
        return f"not notified: {WEBHOOK_ENV} is not set"
    request = urllib.request.Request(
        target,
        data=json.dumps(payload, sort_keys=True, allow_nan=False).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "bigtrain"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return f"notified: webhook answered {response.status}"
    except urllib.error.HTTPError as error:
        return f"not notified: webhook answered {error.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        return f"not notified: webhook unreachable ({type(reason).__name__})"
