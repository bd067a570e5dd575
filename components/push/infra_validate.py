"""Infra validation: only a model that loads and serves is published.

``validate_serving`` loads the SavedModel in a fresh Python subprocess (so a crashing or leaking model cannot
take the caller down, and nothing already imported in the caller can mask a missing op or dependency), runs
``serving_default`` on a batch of serialized ``tf.train.Example`` protos and checks the predictions. The child
imports only TensorFlow and the TF-free ``components.train.signatures``, the one place the signature names live.

Protocol: the request (model dir + base64 examples) goes in as JSON on stdin. The child reports on its
original stdout as JSON lines: a ``{"stage": ...}`` line before each step, then one verdict line
``{"ok": ...}``. Everything else the child or TensorFlow prints goes to stderr. If the child dies or times
out without a verdict, the last stage line says what it was doing.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from components.train.signatures import INPUT_NAME, OUTPUT_KEY, SERVING_SIGNATURE

_IMPORTED = time.monotonic()  # in the child, about its start: the verdict's seconds count from here

logger = logging.getLogger(__name__)

_STAGE_DESCRIPTIONS = {
    "import": "could not import tensorflow",
    "load": "model failed to load",
    "call": f"{SERVING_SIGNATURE} failed",
}
_MAX_REASON_CHARS = 300


class InfraValidationError(RuntimeError):
    """The model does not load or does not serve sane predictions; the message is a one-line reason."""


@dataclass(frozen=True)
class InfraValidationResult:
    """Outcome of a passing validation; ``seconds`` is the check process's own time, TF import included."""

    examples: int
    seconds: float
    min_output: float
    max_output: float


def validate_serving(
    model_dir: str | Path, serialized_examples: Sequence[bytes], timeout_s: float = 300
) -> InfraValidationResult:
    """Load ``model_dir`` in a fresh subprocess, serve ``serialized_examples`` and check the predictions.

    Raises ValueError for an empty or non-bytes example list and InfraValidationError for any serving failure.
    """
    with start_serving_check(model_dir, serialized_examples, timeout_s) as check:
        return check.result()


def start_serving_check(
    model_dir: str | Path, serialized_examples: Sequence[bytes], timeout_s: float = 300, niceness: int = 0
) -> ServingCheck:
    """Start the serving check of ``model_dir`` in its subprocess and return at once; ``result()`` waits for it.

    Raises ValueError for an empty or non-bytes example list and InfraValidationError when ``model_dir`` is not a
    directory. ``timeout_s`` counts from the start. A positive ``niceness`` lowers the child's CPU priority, for a
    check that runs beside other work.
    """
    examples = _check_examples(serialized_examples)
    model_path = Path(os.path.abspath(model_dir))
    if not model_path.is_dir():
        raise InfraValidationError(f"model failed to load: {model_path} is not a directory")
    request = json.dumps(
        {
            "model_dir": str(model_path),
            "examples": [base64.b64encode(e).decode("ascii") for e in examples],
            "niceness": niceness,
        }
    ).encode("utf-8")
    # Files, not pipes: nobody reads the child's output while it runs, and TensorFlow can fill a pipe and block.
    # The output files belong to the ServingCheck, which closes them.
    stdout, stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115
    with tempfile.TemporaryFile() as stdin:
        stdin.write(request)
        stdin.seek(0)
        started = time.monotonic()
        try:
            process = subprocess.Popen(_child_command(), stdin=stdin, stdout=stdout, stderr=stderr, env=_child_env())
        except OSError:
            stdout.close()
            stderr.close()
            raise
    return ServingCheck(process, stdout, stderr, len(examples), started, timeout_s)


class ServingCheck:
    """A serving check running in its subprocess. ``result()`` waits for the verdict; leaving a ``with`` block
    kills a child that is still running."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        stdout: IO[bytes],
        stderr: IO[bytes],
        examples: int,
        started: float,
        timeout_s: float,
    ) -> None:
        self._process, self._stdout, self._stderr = process, stdout, stderr
        self._examples, self._started, self._timeout_s = examples, started, timeout_s

    def __enter__(self) -> ServingCheck:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill the child if it still runs and release its output files."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._stdout.close()
        self._stderr.close()

    def _output(self) -> tuple[bytes, bytes]:
        self._stdout.seek(0)
        self._stderr.seek(0)
        return self._stdout.read(), self._stderr.read()

    def result(self) -> InfraValidationResult:
        """Wait for the verdict: the passing result, or InfraValidationError naming what failed."""
        remaining = self._timeout_s - (time.monotonic() - self._started)
        try:
            returncode = self._process.wait(timeout=max(remaining, 0.0))
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            stdout, stderr = self._output()
            _log_stderr(stderr)
            stage = _last_stage(_report_lines(stdout))
            doing = f"at stage '{stage}'" if stage else "before starting"
            raise InfraValidationError(f"serving check timed out after {self._timeout_s:g}s {doing}") from None
        stdout, stderr = self._output()
        verdict = _verdict(subprocess.CompletedProcess(self._process.args, returncode, stdout, stderr))
        return InfraValidationResult(
            examples=self._examples,
            seconds=float(verdict["seconds"]),
            min_output=float(verdict["min_output"]),
            max_output=float(verdict["max_output"]),
        )


# ---------------------------------------------------------------------------------------------------------------
# Parent side


def _check_examples(serialized_examples: Sequence[bytes]) -> list[bytes]:
    examples = list(serialized_examples)
    if not examples:
        raise ValueError("infra validation needs at least one serialized example")
    bad = [i for i, e in enumerate(examples) if not isinstance(e, bytes)]
    if bad:
        raise ValueError(f"serialized examples must be bytes; item {bad[0]} is {type(examples[bad[0]]).__name__}")
    return examples


def _child_command() -> list[str]:
    # Run this file as a script rather than `-m`, so the child imports tensorflow and the tiny signatures module
    # (from the installed package) but not this package's other modules; -P keeps the script's own directory off
    # sys.path.
    return [sys.executable, "-P", str(Path(__file__).resolve())]


def _child_env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _decode(stream: bytes | str | None) -> str:
    if stream is None:
        return ""
    return stream if isinstance(stream, str) else stream.decode("utf-8", errors="replace")


def _report_lines(stdout: bytes | str | None) -> list[dict[str, Any]]:
    lines = []
    for line in _decode(stdout).splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


def _last_stage(lines: list[dict[str, Any]]) -> str | None:
    stages = [line["stage"] for line in lines if "stage" in line]
    return stages[-1] if stages else None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:_MAX_REASON_CHARS] if lines else "(no output on stderr)"


def _log_stderr(stderr: bytes | str | None) -> None:
    tail = "\n".join(_decode(stderr).splitlines()[-30:])
    if tail:
        logger.info("infra validation subprocess stderr (tail):\n%s", tail)


def _verdict(proc: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    """The child's passing verdict; raises InfraValidationError for a failing verdict or a crash."""
    lines = _report_lines(proc.stdout)
    verdicts = [line for line in lines if "ok" in line]
    if verdicts:
        verdict = verdicts[-1]
        if proc.returncode != 0:
            # The checks finished; a crash in interpreter teardown says nothing about the model.
            logger.warning("infra validation subprocess exited with code %d after its verdict", proc.returncode)
        if verdict["ok"]:
            return verdict
        _log_stderr(proc.stderr)
        raise InfraValidationError(str(verdict["reason"]))
    _log_stderr(proc.stderr)
    stage = _last_stage(lines)
    what = _STAGE_DESCRIPTIONS.get(stage or "", "serving subprocess failed")
    raise InfraValidationError(
        f"{what} (subprocess exited with code {proc.returncode}): {_last_line(_decode(proc.stderr))}"
    )


# ---------------------------------------------------------------------------------------------------------------
# Checks (pure; used by the child)


def _fail(reason: str) -> dict[str, Any]:
    return {"ok": False, "reason": reason[:_MAX_REASON_CHARS]}


_TF_NOISE = re.compile(r"^(Graph execution error|Detected at node|<stack traces unavailable>|File \"|\[\[)")


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, preferring TF's actual message over its stack/node boilerplate."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not _TF_NOISE.match(ln)]
    message = (useful or lines or [""])[-1]
    message = re.sub(r"\s*\[Op:[^\]]*\]$", "", message)
    return f"{type(exc).__name__}: {message}"


def _check_inputs(inputs: Mapping[str, tuple[str, int | None]]) -> str | None:
    """Problem with the signature's inputs ({name: (dtype name, rank)}), or None if it takes only examples."""
    if INPUT_NAME not in inputs:
        return f"{SERVING_SIGNATURE} has no input named '{INPUT_NAME}' (inputs: {', '.join(sorted(inputs)) or 'none'})"
    dtype, rank = inputs[INPUT_NAME]
    if dtype != "string":
        return f"{SERVING_SIGNATURE} input '{INPUT_NAME}' is {dtype}, expected string"
    if rank not in (None, 1):
        return f"{SERVING_SIGNATURE} input '{INPUT_NAME}' has rank {rank}, expected a 1-D batch"
    extra = sorted(set(inputs) - {INPUT_NAME})
    if extra:
        return f"{SERVING_SIGNATURE} needs inputs besides '{INPUT_NAME}': {', '.join(extra)}"
    return None


def _check_outputs(outputs: Mapping[str, Any], n: int) -> dict[str, Any]:
    """Verdict for the signature's outputs on ``n`` examples: one score per example, finite, within [0, 1]."""
    if len(outputs) == 1:
        key = next(iter(outputs))
    elif OUTPUT_KEY in outputs:
        key = OUTPUT_KEY
    else:
        names = ", ".join(sorted(outputs)) or "none"
        return _fail(f"{SERVING_SIGNATURE} returned {len(outputs)} outputs ({names}) and none is named '{OUTPUT_KEY}'")
    scores = np.asarray(outputs[key])
    if scores.shape not in ((n,), (n, 1)):
        return _fail(f"{SERVING_SIGNATURE} output '{key}' has shape {list(scores.shape)}, expected [{n}] or [{n}, 1]")
    if not (np.issubdtype(scores.dtype, np.floating) or np.issubdtype(scores.dtype, np.integer)):
        return _fail(f"{SERVING_SIGNATURE} output '{key}' has dtype {scores.dtype}, expected a real number")
    values = scores.astype(np.float64).reshape(-1)
    non_finite = int(np.count_nonzero(~np.isfinite(values)))
    if non_finite:
        return _fail(f"{SERVING_SIGNATURE} returned {non_finite} non-finite values (of {n})")
    out_of_range = int(np.count_nonzero((values < 0) | (values > 1)))
    if out_of_range:
        return _fail(
            f"{SERVING_SIGNATURE} returned {out_of_range} values outside [0, 1] "
            f"(min {values.min():.6g}, max {values.max():.6g})"
        )
    return {"ok": True, "min_output": float(values.min()), "max_output": float(values.max())}


# ---------------------------------------------------------------------------------------------------------------
# Child side


def _serve_and_check(model_dir: str, examples: list[bytes], report: Any) -> dict[str, Any]:
    """Load, inspect and call the model; ``report(stage)`` is called before each step."""
    report("import")
    import tensorflow as tf  # only the child pays for (and risks) importing TF

    report("load")
    try:
        loaded = tf.saved_model.load(model_dir)
    except Exception as e:  # any load error is the verdict, not a crash of the check
        traceback.print_exc()
        return _fail(f"model failed to load: {_one_line(e)}")

    signatures = dict(loaded.signatures)
    if SERVING_SIGNATURE not in signatures:
        return _fail(f"no {SERVING_SIGNATURE} signature (signatures: {', '.join(sorted(signatures)) or 'none'})")
    fn = signatures[SERVING_SIGNATURE]
    _, input_specs = fn.structured_input_signature
    problem = _check_inputs({name: (spec.dtype.name, spec.shape.rank) for name, spec in input_specs.items()})
    if problem:
        return _fail(problem)

    report("call")
    try:
        outputs = fn(**{INPUT_NAME: tf.constant(examples, dtype=tf.string)})
    except Exception as e:  # a model that raises on real examples fails validation
        traceback.print_exc()
        return _fail(f"{SERVING_SIGNATURE} failed on {len(examples)} examples: {_one_line(e)}")
    if not isinstance(outputs, Mapping):
        outputs = {OUTPUT_KEY: outputs}
    return _check_outputs({k: v.numpy() for k, v in outputs.items()}, len(examples))


def main() -> int:
    """Child entry point: request JSON on stdin, JSON lines on the original stdout."""
    # Keep the real stdout for the report; route fd 1 (Python prints and C++ writes alike) to stderr.
    report_fd = os.dup(1)
    os.dup2(2, 1)

    def emit(payload: dict[str, Any]) -> None:
        os.write(report_fd, (json.dumps(payload) + "\n").encode("utf-8"))

    request = json.loads(sys.stdin.buffer.read())
    if request.get("niceness", 0) > 0:
        os.nice(request["niceness"])
    examples = [base64.b64decode(e) for e in request["examples"]]
    verdict = _serve_and_check(request["model_dir"], examples, lambda stage: emit({"stage": stage}))
    emit({**verdict, "seconds": round(time.monotonic() - _IMPORTED, 3)})
    return 0


if __name__ == "__main__":
    status = main()
    sys.stderr.flush()
    # The verdict is written (unbuffered): skip tearing down TensorFlow, about a second that checks nothing.
    os._exit(status)
