"""Fixtures shared by the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.evaluate.analysis import BLESSED_MARKER


@pytest.fixture
def blessed(tmp_path: Path) -> Path:
    """An evaluate blessing directory that says BLESSED."""
    directory = tmp_path / "blessing"
    directory.mkdir()
    (directory / BLESSED_MARKER).touch()
    return directory
