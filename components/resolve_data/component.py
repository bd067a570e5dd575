"""KFP adapter for resolve-data: ``beam_jobs.sources`` chooses the spans, lists their files and fingerprints them.
Never cached."""

from typing import NamedTuple


def resolve_data(source: str, spans: str) -> NamedTuple(
    "ResolvedData", [("patterns", list), ("spans", list), ("fingerprint", str)]
):
    """Resolve the data source when the run starts, so a scheduled run re-runs exactly when its data changed.

    Args:
        source: File glob, local or object store; ``{SPAN}`` in it marks the span, chosen by ``spans``.
        spans: data.spans as JSON: "latest", the newest N (a number) or a list of span names.
    """
    from collections import namedtuple

    from pydantic import TypeAdapter, ValidationError

    from beam_jobs.sources import SpanSelection, describe_spans, resolve_source

    try:
        selection = TypeAdapter(SpanSelection).validate_json(spans)
    except ValidationError as error:
        raise ValueError(f"spans: expected latest, a positive number or a list of span names, got {spans}") from error
    resolved = resolve_source(source, selection)
    if resolved.spans:
        chosen = f"span {describe_spans(resolved.spans)}"
        if isinstance(selection, int) and len(resolved.spans) < selection:
            chosen += f" (only {len(resolved.spans)} of the {selection} requested have files)"
        print(
            f"resolve-data: {chosen}: {len(resolved.files)} file(s) under {source} (fingerprint {resolved.fingerprint})"
        )
    else:
        print(f"resolve-data: {len(resolved.files)} file(s) match {source} (fingerprint {resolved.fingerprint})")
    outputs = namedtuple("ResolvedData", ["patterns", "spans", "fingerprint"])
    return outputs(list(resolved.patterns), list(resolved.spans), resolved.fingerprint)
