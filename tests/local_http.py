"""A local HTTP server on 127.0.0.1 (a free port) in a background thread, and scripted failures, for the tests'
recording fakes.

Every request, whatever its method, goes to one ``serve(handler)`` function; the fake decides what to answer.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LocalServer:
    """``serve`` behind a ThreadingHTTPServer: ``start()``, ``url``, ``stop()``."""

    def __init__(self, serve: Callable[[BaseHTTPRequestHandler], None], poll_seconds: float = 0.05) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                serve(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the fakes record requests themselves."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(poll_seconds,), daemon=True)

    def start(self) -> LocalServer:
        """Start serving in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"


@dataclass
class ScriptedFailure:
    """Answer requests with ``method`` whose path matches ``path`` with ``status``/``message``, ``remaining`` times."""

    method: str
    path: re.Pattern[str]
    status: int
    message: str
    remaining: int


def take_failure(failures: list[ScriptedFailure], method: str, path: str) -> ScriptedFailure | None:
    """The first scripted failure that matches this request (and use one of its turns), or None."""
    for failure in failures:
        if failure.remaining > 0 and failure.method == method and failure.path.search(path):
            failure.remaining -= 1
            return failure
    return None
