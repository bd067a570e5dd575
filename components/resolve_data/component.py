"""KFP adapter for resolve-data: ``beam_jobs.sources`` picks the files and fingerprints them. Never cached."""

from typing import NamedTuple


def resolve_data(source: str) -> NamedTuple("ResolvedData", [("pattern", str), ("span", int), ("fingerprint", str)]):
    """Resolve the data source when the run starts, so a scheduled run re-runs exactly when its data changed.

    Args:
        source: File glob, local or object store; ``{SPAN}`` in it selects the newest span.
    """
    from collections import namedtuple

    from beam_jobs.sources import resolve_source

    resolved = resolve_source(source)
    print(f"resolve-data: {len(resolved.files)} file(s) match {resolved.pattern} (fingerprint {resolved.fingerprint})")
    outputs = namedtuple("ResolvedData", ["pattern", "span", "fingerprint"])
    return outputs(resolved.pattern, -1 if resolved.span is None else resolved.span, resolved.fingerprint)
