"""A real headless Chromium driven over the DevTools protocol on a pipe (no port, no extra Python package).

The binary comes from Debian packages (chromium-headless-shell or chromium); BIGTRAIN_CHROMIUM overrides it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV_OVERRIDE = "BIGTRAIN_CHROMIUM"
CANDIDATES = ("chromium-headless-shell", "chromium")
INSTALL_HINT = (
    "install the Debian package chromium-headless-shell (apt-get install chromium-headless-shell; or chromium), "
    f"or point {ENV_OVERRIDE} at a Chromium binary"
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
_PIPE_IN, _PIPE_OUT = 3, 4  # Chromium reads commands from fd 3 and writes replies to fd 4


def missing_chromium() -> str:
    """Why no Chromium was found, and how to get one."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        return f"{ENV_OVERRIDE}={override} is not an executable file; unset it or {INSTALL_HINT}"
    return f"no Chromium binary found: {INSTALL_HINT}"


def find_chromium() -> str | None:
    """The Chromium binary to use: $BIGTRAIN_CHROMIUM, else chromium-headless-shell, else chromium on PATH."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        return override if os.access(override, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    """Chromium failed, timed out or answered a command with an error."""


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, binary: str, width: int = 1280, height: int = 900, timeout: float = 30.0) -> None:
        self.binary, self.width, self.height, self.timeout = binary, width, height, timeout
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._buffer = b""
        self._session: str | None = None

    def __enter__(self) -> Browser:
        self._profile = tempfile.TemporaryDirectory(prefix="bigtrain-chromium-")
        self._log = tempfile.TemporaryFile()
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()
        args = [self.binary, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"]
        # posix_spawn moves the child's pipe ends onto fds 3 and 4 (no preexec_fn, so safe with threads). The ends
        # are parked above fd 9 first, so moving one cannot overwrite the other.
        high_in, high_out = fcntl.fcntl(to_child, fcntl.F_DUPFD, 10), fcntl.fcntl(from_child, fcntl.F_DUPFD, 10)
        try:
            self._pid = os.posix_spawn(
                self.binary,
                args,
                dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, self._log.fileno(), 1),
                    (os.POSIX_SPAWN_DUP2, self._log.fileno(), 2),
                    (os.POSIX_SPAWN_DUP2, high_in, _PIPE_IN),
                    (os.POSIX_SPAWN_DUP2, high_out, _PIPE_OUT),
                ],
            )
        except BaseException:
            for fd in (self._write, self._read):
                os.close(fd)
            self._log.close()
            self._profile.cleanup()
            raise
        finally:
            for fd in (to_child, from_child, high_in, high_out):
                os.close(fd)
        self._exit_code: int | None = None
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Network", "Runtime"):
                self.send(f"{domain}.enable")
            self.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._poll() is None:
                self._session = None
                with contextlib.suppress(OSError):  # a closed pipe: Chromium is exiting anyway, the wait decides
                    self._post("Browser.close")
                if not self._wait(10.0):
                    os.kill(self._pid, signal.SIGKILL)
                    self._wait(None)
        finally:
            os.close(self._write)
            os.close(self._read)
            self._log.close()
            self._profile.cleanup()

    def _poll(self) -> int | None:
        """Chromium's exit status, None while it runs (reaps it once it exited)."""
        if self._exit_code is None:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
            if pid:
                self._exit_code = os.waitstatus_to_exitcode(status)
        return self._exit_code

    def _wait(self, timeout: float | None) -> bool:
        """Wait for Chromium to exit (forever when timeout is None); True once it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    # ---- protocol ---------------------------------------------------------------------------------

    def _post(self, method: str, params: dict[str, Any] | None = None) -> int:
        """Send one command; return its id."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, deadline: float) -> dict[str, Any]:
        """The next message from Chromium (events are also kept in self.events)."""
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium did not answer in {self.timeout:.0f} s{self._stderr()}")
            ready, _, _ = select.select([self._read], [], [], left)
            if ready:
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    raise BrowserError(f"Chromium exited (code {self._poll()}){self._stderr()}")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message = json.loads(raw)
        if "method" in message:
            self.events.append(message)
        return message

    def _stderr(self) -> str:
        """The tail of Chromium's output, for error messages."""
        self._log.seek(0)
        tail = self._log.read()[-2000:].decode("utf-8", "replace").strip()
        return f"; Chromium said: {tail}" if tail else ""

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a command and wait for its result."""
        wanted = self._post(method, params)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Wait for (or find an already received) event matching predicate."""
        for event in self.events:
            if predicate(event):
                return event
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if "method" in message and predicate(message):
                return message

    # ---- page -------------------------------------------------------------------------------------

    def open(self, path: Path) -> None:
        """Load a local file and wait for its load event."""
        self.events.clear()
        self.send("Page.navigate", {"url": path.resolve().as_uri()})
        self.wait_for(lambda event: event["method"] == "Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression (awaited if it is a promise)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def requested_urls(self) -> list[str]:
        """Every URL the page requested since it was opened."""
        return [
            event["params"]["request"]["url"] for event in self.events if event["method"] == "Network.requestWillBeSent"
        ]

    def screenshot(self, path: Path) -> None:
        """A PNG of the whole page (not just the viewport)."""
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.send("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(shot["data"]))
