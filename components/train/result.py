"""What a training run did, and where the chief writes it: TensorFlow-free, so launchers can read it cheaply."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

RESULT_FILE = "result.json"  # the chief's TrainingResult, in the request's logs_dir
HISTORY_FILE = "history.json"  # the result plus Keras' per-epoch history, in the request's logs_dir


@dataclass(frozen=True)
class TrainingResult:
    """What a training run did."""

    epochs_run: int
    best_epoch: int
    best_eval_auc: float
    final_eval_loss: float
    train_examples_per_epoch: int
    seconds: float
    workers: int
    chief: bool
    resumed_from_epoch: int
    warm_started: bool
    warm_start_note: str
    # When trained with pruning: the schedule (steps), the pruned layers and the sparsity of their kernels as
    # exported ({"final_sparsity", "begin_step", "end_step", "frequency", "end_epoch", "layers", "kernel_sparsity"}).
    pruning: dict[str, Any] | None = None

    def write(self, logs_dir: str) -> None:
        """Write ``result.json`` into ``logs_dir``."""
        os.makedirs(logs_dir, exist_ok=True)
        with open(os.path.join(logs_dir, RESULT_FILE), "w") as handle:
            json.dump(asdict(self), handle, indent=2)

    @classmethod
    def read(cls, logs_dir: str) -> TrainingResult:
        """Read the ``result.json`` the chief wrote into ``logs_dir``."""
        with open(os.path.join(logs_dir, RESULT_FILE)) as handle:
            return cls(**json.load(handle))


def has_result(logs_dir: str) -> bool:
    """True when ``logs_dir`` holds a chief's ``result.json``."""
    return os.path.isfile(os.path.join(logs_dir, RESULT_FILE))
