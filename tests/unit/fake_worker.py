"""A stand-in for ``python -m components.train.main REQUEST.json`` in tests of components.train.workers.

``BIGTRAIN_FAKE_WORKERS`` maps a worker index to what it does (JSON, e.g. ``{"0": "ok", "1": "fail"}``):
``ok`` prints and exits 0 (worker 0 writes ``<logs_dir>/result.json`` as the chief does), ``no-result`` exits 0
without writing it, ``fail`` prints a traceback ending in ``ValueError: boom`` and exits 1, ``hang`` prints once and
then nothing, ``mute`` prints nothing at all, ``chatty`` prints forever, ``stubborn`` ignores SIGTERM and prints
nothing after its first line, ``stopped`` stops itself (SIGSTOP). Each worker records its
pid, process group, argv and environment in ``$BIGTRAIN_FAKE_DIR/worker-<index>.json``. Imports no TensorFlow.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def _result(workers: int) -> dict[str, object]:
    return {
        "epochs_run": 1,
        "best_epoch": 1,
        "best_eval_auc": 0.75,
        "final_eval_loss": 0.5,
        "train_examples_per_epoch": 100,
        "seconds": 0.1,
        "workers": workers,
        "chief": True,
        "resumed_from_epoch": 0,
        "warm_started": False,
        "warm_start_note": "",
    }


def main() -> int:
    config = json.loads(os.environ["TF_CONFIG"])
    index = config["task"]["index"]
    mode = json.loads(os.environ["BIGTRAIN_FAKE_WORKERS"])[str(index)]
    record = {
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "argv": sys.argv,
        "tf_config": config,
        "env": {name: os.environ.get(name) for name in ("TF_USE_LEGACY_KERAS", "PYTHONUNBUFFERED")},
    }
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(os.path.join(os.environ["BIGTRAIN_FAKE_DIR"], f"worker-{index}.json"), "w") as handle:
        json.dump(record, handle)
    if mode != "mute":
        print(f"fake worker {index} of {len(config['cluster']['worker'])}: {mode}")
    if mode in ("ok", "no-result"):
        with open(sys.argv[1]) as handle:
            request = json.load(handle)
        if index == 0 and mode == "ok":
            os.makedirs(request["logs_dir"], exist_ok=True)
            with open(os.path.join(request["logs_dir"], "result.json"), "w") as handle:
                json.dump(_result(len(config["cluster"]["worker"])), handle)
        print("done")
        return 0
    if mode == "stopped":
        os.kill(os.getpid(), signal.SIGSTOP)
    if mode == "fail":
        print("Epoch 1/2")
        time.sleep(0.3)
        raise ValueError("boom")
    while True:  # hang, mute, chatty, stubborn, stopped
        if mode == "chatty":
            print("still working")
        time.sleep(0.3)


if __name__ == "__main__":
    sys.exit(main())
