"""Keeping a data error to its one line on a standalone job's terminal.

Beam logs the traceback of every exception a DoFn raises (logger ``apache_beam.runners.common``) before re-raising
it. For an IngestError, raised when a file's content breaks the config mid-read (a JSON Lines value or a tf.Example
feature of the wrong type), that trace explains nothing and buries the line naming the file and the problem.
"""

from __future__ import annotations

import logging

from beam_jobs.chunks import IngestError

BEAM_DOFN_LOGGER = "apache_beam.runners.common"


class _DropDataErrorTraces(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, IngestError)


def hide_data_error_traces() -> None:
    """Drop Beam's traceback log of a DoFn's IngestError (the caller reports the error itself); idempotent."""
    logger = logging.getLogger(BEAM_DOFN_LOGGER)
    if not any(isinstance(existing, _DropDataErrorTraces) for existing in logger.filters):
        logger.addFilter(_DropDataErrorTraces())
