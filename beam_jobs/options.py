"""Beam pipeline options: the runner is always named, never guessed from sys.argv."""

from __future__ import annotations

from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

DEFAULT_RUNNER = "DirectRunner"


def beam_flags(runner: str = DEFAULT_RUNNER, extra: Sequence[str] = ()) -> list[str]:
    """The command-line flags for a Beam job. DirectRunner is pinned in-memory (no Prism download)."""
    flags = [f"--runner={runner}", *extra]
    if runner == "DirectRunner" and not any(f.startswith("--direct_running_mode") for f in extra):
        flags.append("--direct_running_mode=in_memory")
    return flags


def pipeline_options(runner: str = DEFAULT_RUNNER, extra: Sequence[str] = ()) -> PipelineOptions:
    """PipelineOptions built only from the given flags (``PipelineOptions()`` alone would read sys.argv)."""
    return PipelineOptions(flags=beam_flags(runner, extra))
