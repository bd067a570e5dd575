"""Shared by the config contract tests: the demo config as raw YAML, and the one-line error a mistake gives."""

from __future__ import annotations

import pytest
import yaml

from pipelines.config import ConfigError, parse_config
from tests.conftest import DEMO_CONFIG


@pytest.fixture()
def raw() -> dict:
    """The demo config as parsed YAML, to change one field at a time."""
    return yaml.safe_load(DEMO_CONFIG.read_text())


def config_error(raw: dict) -> str:
    """The ConfigError message that ``raw`` gives (the test fails when it loads)."""
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, source="run.yaml")
    return str(caught.value)
