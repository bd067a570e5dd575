"""TrainRequests over the demo data the ``preprocessed`` fixture (tests/conftest.py) made, for real training tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.train.request import TrainRequest
from components.train.settings import TrainingSettings


def demo_request(
    preprocessed: Any,
    demo_config: Any,
    root: Path,
    training: TrainingSettings,
    **fields: Any,
) -> TrainRequest:
    """Train the demo config's model on the preprocessed splits with ``training``; outputs, logs and the backup go
    under ``root``. ``fields`` override any other request field (``model``, ``crosses``, ``warm_start_from``,
    ``transformed_dir``...)."""
    paths, stats, _ = preprocessed
    request: dict[str, Any] = {
        "transformed_dir": paths.transformed,
        "transform_graph_dir": paths.transform_graph,
        "columns": demo_config.columns_dict(),
        "model": demo_config.model,
        "training": training,
        "model_dir": str(root / "model"),
        "logs_dir": str(root / "logs"),
        "backup_dir": str(root / "backup"),
        "train_examples": stats.train,
        "eval_examples": stats.eval,
    }
    return TrainRequest(**{**request, **fields})

