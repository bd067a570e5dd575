"""``bigtrain validate``: check a run config and its data's header or schema without running anything."""

from __future__ import annotations

import os

from beam_jobs.chunks import IngestError
from beam_jobs.readers import prepare
from beam_jobs.sources import SourceError, choose_files
from pipelines.config import ConfigError, RunConfig, load_config


def check_data(config: RunConfig) -> str:
    """Check the first file of each chosen span the way ingest does before reading (content looks like
    ``data.format``; the CSV header or Parquet schema lists exactly the config's columns).

    Returns ``ok: N spans, M files, format X``; raises ConfigError with one line per problem (a span without files,
    a file whose header or schema does not fit).
    """
    try:
        groups = choose_files(config.data.source, config.data.spans)
    except (SourceError, ValueError) as error:
        raise ConfigError(str(error)) from None
    contract = config.contract
    problems = []
    for group in groups:
        first = group.files[0][0]
        try:
            prepare(first, config.data.format, contract)
        except IngestError as error:
            problems.append(str(error))
    if problems:
        raise ConfigError("\n".join(problems))
    files = sum(len(group.files) for group in groups)
    spans = len(groups)
    return f"ok: {spans} span{'s' * (spans != 1)}, {files} file{'s' * (files != 1)}, format {config.data.format}"


def validate(config_path: str | os.PathLike[str]) -> str:
    """Load and check the config at ``config_path``, then its data (:func:`check_data`); raises ConfigError."""
    return check_data(load_config(config_path))
