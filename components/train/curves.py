"""Training curves (loss and AUC per epoch, train vs validation) as JSON and as a PNG, for the evaluation report."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

CURVES_JSON = "curves.json"
CURVES_PNG = "curves.png"
PANELS = (("loss", "loss"), ("auc", "AUC"))


def write_curves(history: Mapping[str, Sequence[float]], out_dir: str, first_epoch: int = 1) -> tuple[str, str]:
    """Write ``curves.json`` and ``curves.png`` (one panel per metric, train and validation lines) to ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")  # no display in a pod or under pytest
    from matplotlib import pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    runs = max((len(v) for v in history.values()), default=0)
    epochs = list(range(first_epoch, first_epoch + runs))
    curves = {"epoch": epochs, **{key: [float(v) for v in values] for key, values in history.items()}}
    json_path = os.path.join(out_dir, CURVES_JSON)
    with open(json_path, "w") as handle:
        json.dump(curves, handle, indent=2)
    figure, axes = plt.subplots(1, len(PANELS), figsize=(9, 3.4), dpi=110)
    for axis, (key, title) in zip(axes, PANELS, strict=True):
        for name, label, style in ((key, "train", "-"), (f"val_{key}", "validation", "--")):
            if history.get(name):
                axis.plot(epochs[: len(history[name])], history[name], style, marker="o", label=label)
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    png_path = os.path.join(out_dir, CURVES_PNG)
    figure.savefig(png_path)
    plt.close(figure)
    return json_path, png_path
