"""Beam pipeline options: the runner is always named, never guessed from sys.argv.

``DirectRunner`` (the local default) is run as Beam's in-process ``FnApiRunner`` — the runner the DirectRunner
itself falls back to for batch pipelines — named directly. Asked for ``DirectRunner``, Beam 2.77 first tries to
download and start Prism; offline that fails after translating the whole pipeline (seconds for a tf.Transform
job), and online it would silently switch runners.
"""

from __future__ import annotations

from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

DEFAULT_RUNNER = "DirectRunner"
LOCAL_RUNNER = "FnApiRunner"
DEFAULT_RUNNING_MODE = "in_memory"  # measured fastest on 2 cores for the demo and for 1M rows (see bench/README.md)
# Construction-time checks of type hints: a development aid that costs a local tf.Transform or TFMA job about 1.5 s
# (inspect.signature on every DoFn, thousands of times) and changes no output. Off for local runs only.
LOCAL_ONLY_FLAGS = ("--no_pipeline_type_check",)


def beam_flags(runner: str = DEFAULT_RUNNER, extra: Sequence[str] = ()) -> list[str]:
    """The command-line flags for a Beam job; DirectRunner runs in-process unless ``extra`` picks a running mode, and
    without construction-time type checks."""
    if runner != DEFAULT_RUNNER:
        return [f"--runner={runner}", *extra]
    flags = [f"--runner={LOCAL_RUNNER}", *LOCAL_ONLY_FLAGS, *extra]
    if not any(f.startswith("--direct_running_mode") for f in extra):
        flags.append(f"--direct_running_mode={DEFAULT_RUNNING_MODE}")
    return flags


def pipeline_options(runner: str = DEFAULT_RUNNER, extra: Sequence[str] = ()) -> PipelineOptions:
    """PipelineOptions built only from the given flags (``PipelineOptions()`` alone would read sys.argv)."""
    return PipelineOptions(flags=beam_flags(runner, extra))
