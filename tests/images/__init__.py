"""Tests for the container images: Dockerfile rules and the checkov scan."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The component images: Dockerfile (CPU, and GPU with --build-arg VARIANT=gpu) and any Dockerfile.<variant> added later.
DOCKERFILES = sorted(path for path in REPO.glob("Dockerfile*") if path.is_file())
