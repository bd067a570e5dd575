"""What a training run did, and where the chief writes it: TensorFlow-free, so launchers can read it cheaply."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

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
