"""Which registry version the candidate is compared with: registry reads only, TensorFlow-free."""

from __future__ import annotations

from dataclasses import dataclass

from components.push.registry import list_versions, model_digest


@dataclass(frozen=True)
class Baseline:
    """The evaluate step's baseline (``path`` empty and ``version`` 0 for none) and what the registry serves."""

    path: str
    version: int
    served_version: int  # the latest complete version (what TF Serving serves); 0 when nothing is published
    candidate_is_served: bool  # the candidate is byte-identical to the served version


def choose_baseline(serving_root: str, model_name: str, candidate_dir: str) -> Baseline:
    """The latest published version as the baseline, unless it is the candidate itself.

    A candidate byte-identical to the served version is not compared with itself: it gets the baseline that version
    was compared with when it was pushed (its lineage's ``baseline_version``; none for a first push or a rollback).
    Those are the evaluate step's inputs of that run, so an unchanged rerun reuses that evaluation from the cache.
    """
    entries = list_versions(serving_root, model_name)
    if not entries:
        return Baseline("", 0, 0, False)
    served = entries[-1]
    if model_digest(candidate_dir) != served.model_digest:
        return Baseline(served.path, served.version, served.version, False)
    compared = served.lineage.get("baseline_version") if served.rollback_of is None else None
    earlier = next((entry for entry in entries if entry.version == compared), None)
    if earlier is None:
        return Baseline("", 0, served.version, True)
    return Baseline(earlier.path, earlier.version, served.version, True)
