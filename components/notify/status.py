"""The final status of a run, as the exit handler sees it (KFP's PipelineTaskFinalStatus)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any


def failed_step(error_message: str, steps: Sequence[str]) -> str | None:
    """The step a failure message names (the longest name that appears as a word), or None."""
    named = [step for step in steps if re.search(rf"(?<![\w-]){re.escape(step)}(?![\w-])", error_message)]
    return max(named, key=len) if named else None


def final_status(
    pipeline_name: str,
    state: str,
    run: str,
    error_message: str,
    steps: Sequence[str],
) -> dict[str, Any]:
    """The run-status record written by the exit handler and posted when the run did not succeed."""
    return {
        "pipeline": pipeline_name,
        "run": run,
        "state": state,
        "failed_step": failed_step(error_message, steps) if state != "SUCCEEDED" else None,
        "error": error_message or None,
    }
