"""Running a training request on this machine: in this process for one worker, as N local worker processes
(``components.train.workers``) for several."""

from __future__ import annotations

from typing import Any

from components.train.request import TrainRequest


def train_locally(request: TrainRequest) -> Any:
    """Train ``request`` here; returns the chief's TrainingResult."""
    if request.training.workers == 1:
        from components.train.main import run

        return run(request, tf_config={})
    from components.train.workers import run_local_workers

    return run_local_workers(request)
