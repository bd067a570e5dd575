"""The serving check run beside evaluation, and its verdict honoured by push for exactly the same model bytes.

Evaluate starts the serving check of the candidate (``components.push.infra_validate``: a fresh process that loads
the SavedModel and serves real examples) when it starts TFMA. TFMA keeps one core busy; the check uses the other.
The verdict goes into evaluate's blessing with the model's digest. Push publishes on that verdict only for a model
with the same digest. Without a verdict, or for other bytes, it runs the check itself, as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from components.push.infra_validate import (
    InfraValidationError,
    InfraValidationResult,
    start_serving_check,
)
from components.push.registry import model_digest
from components.push.tfrecords import sample_records

logger = logging.getLogger(__name__)

VALIDATION_EXAMPLES = 64  # raw examples the serving check sends
BACKGROUND_NICENESS = 10  # beside evaluation the check takes only CPU that TFMA leaves idle


def sample_examples(pattern: str, count: int = VALIDATION_EXAMPLES) -> list[bytes]:
    """Up to ``count`` serialized raw examples from gzipped TFRecords, read without TensorFlow."""
    return sample_records(pattern, count)


@contextlib.contextmanager
def serving_check_beside(model_dir: str, examples_pattern: str, verdict_path: str) -> Iterator[None]:
    """Run the serving check of ``model_dir`` while the ``with`` block runs; when the block ends without an error,
    wait for the verdict and write it to ``verdict_path`` with the model's digest.

    Nothing is written when ``examples_pattern`` holds no examples (push says so), and a block that raises stops
    the check.
    """
    examples = sample_examples(examples_pattern)
    if not examples:
        yield
        return
    try:
        check = start_serving_check(model_dir, examples, niceness=BACKGROUND_NICENESS)
    except InfraValidationError as error:
        yield
        _write(verdict_path, model_dir, {"ok": False, "reason": str(error)})
        return
    with check:
        yield
        try:
            result = check.result()
        except InfraValidationError as error:
            record: dict[str, Any] = {"ok": False, "reason": str(error)}
        else:
            record = {"ok": True, **asdict(result)}
    _write(verdict_path, model_dir, record)


def _write(path: str, model_dir: str, record: dict[str, Any]) -> None:
    record = {**record, "model_digest": model_digest(model_dir)}
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
    logger.info("serving check: %s", "passed" if record["ok"] else record["reason"])


def recorded_verdict(path: str, model_dir: str) -> InfraValidationResult | None:
    """The passing verdict recorded at ``path`` for exactly the bytes of ``model_dir``.

    None when nothing is recorded there or the record is for other bytes (then the caller checks for itself).
    Raises InfraValidationError with the recorded reason when the check failed for these bytes.
    """
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        record = json.load(handle)
    if record.get("model_digest") != model_digest(model_dir):
        logger.warning("serving check at %s was for other model bytes; checking again", path)
        return None
    if not record["ok"]:
        raise InfraValidationError(str(record["reason"]))
    return InfraValidationResult(
        examples=int(record["examples"]),
        seconds=float(record["seconds"]),
        min_output=float(record["min_output"]),
        max_output=float(record["max_output"]),
    )
