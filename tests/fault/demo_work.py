"""A working directory for whole-run fault tests: demo data written by the real CLI and a small run config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.cli_runs import bigtrain
from tests.conftest import DEMO_CONFIG

CONFIG_FILE = "run.yaml"


def make_demo_work(work: Path, rows: int, epochs: int, **sections: dict[str, Any]) -> Path:
    """Write ``rows`` demo rows to ``work/data/demo`` and the demo config, with ``epochs`` and the given sections'
    keys overridden, to ``work/run.yaml``; returns ``work``."""
    made = bigtrain("demo-data", "--rows", str(rows), "--output", "data/demo", cwd=work)
    assert made.returncode == 0, made.stderr
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["training"]["epochs"] = epochs
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    (work / CONFIG_FILE).write_text(yaml.safe_dump(config))
    return work
