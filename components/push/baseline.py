"""Which registry version the candidate is compared with: registry reads only, TensorFlow-free."""

from __future__ import annotations

from dataclasses import dataclass

from components.push.registry import latest, model_digest


@dataclass(frozen=True)
class Baseline:
    """The evaluate step's baseline.

    ``path`` is empty when nothing is published, and also when the candidate *is* the served version (same content
    digest): comparing a model with itself proves nothing, and with an empty path the evaluate step's cache key is
    the one it had when that model was first evaluated, so an unchanged rerun reuses that evaluation and blessing.
    """

    path: str
    version: int  # the version at ``path``; 0 when there is no baseline
    served_version: int  # the latest complete version (what TF Serving serves); 0 when nothing is published

    @property
    def candidate_is_served(self) -> bool:
        """True when the candidate is byte-identical to the served version."""
        return self.served_version > 0 and not self.path


def choose_baseline(serving_root: str, model_name: str, candidate_dir: str) -> Baseline:
    """The latest published version as the baseline, unless it is the candidate itself."""
    entry = latest(serving_root, model_name)
    if entry is None:
        return Baseline("", 0, 0)
    if model_digest(candidate_dir) == entry.model_digest:
        return Baseline("", 0, entry.version)
    return Baseline(entry.path, entry.version, entry.version)
