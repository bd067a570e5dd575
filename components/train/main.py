"""One training process: ``python -m components.train.main REQUEST.json``.

The same entry point runs in-process (one worker), as each local worker process, and in each pod of a distributed
training job on the cluster (TFJob sets ``TF_CONFIG``). It creates the tf.distribute strategy before any other
TensorFlow op, as MultiWorkerMirroredStrategy requires, and only then builds datasets and the model.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from components.train.request import TrainRequest


def run(request: TrainRequest, tf_config: Mapping[str, Any] | None = None) -> Any:
    """Train one process of ``request``: strategy first, then everything else. Returns the TrainingResult."""
    from components.train import distribute

    config = distribute.read_tf_config() if tf_config is None else tf_config
    strategy = distribute.make_strategy(config)
    from components.train.trainer import train

    return train(request, strategy, config)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of a worker process; exit 0 when this process finished its part."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m components.train.main REQUEST.json", file=sys.stderr)
        return 2
    # bigtrain trains with tf_keras (see components/train/model.py): chosen before TensorFlow is imported.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    run(TrainRequest.read(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
