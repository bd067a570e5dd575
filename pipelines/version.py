"""``bigtrain --version``: bigtrain's own version and the installed versions of the stack it runs on.

Read from the installed package metadata, so nothing heavy (TensorFlow, Beam) is imported.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

STACK = ("tensorflow", "tensorflow-transform", "tensorflow-model-analysis", "apache-beam", "kfp")
_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def installed_version(distribution: str) -> str:
    """The installed version of ``distribution``, or ``not installed``."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def bigtrain_version() -> str:
    """bigtrain's version: the installed metadata, else ``pyproject.toml`` of a source checkout."""
    try:
        return metadata.version("bigtrain")
    except metadata.PackageNotFoundError:
        pass
    try:
        return str(tomllib.loads(_PYPROJECT.read_text())["project"]["version"]) + " (source checkout)"
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def version_text() -> str:
    """``bigtrain X`` and one indented line per stack package."""
    width = max(len(name) for name in STACK)
    lines = [f"bigtrain {bigtrain_version()}"]
    lines += [f"  {name:<{width}}  {installed_version(name)}" for name in STACK]
    return "\n".join(lines)
