"""No secret leaks into anything bigtrain writes.

Fake secrets are planted where they really live: the KFP token, object-store keys and the webhook URL (with a secret
path) in the environment, and the Secret *names* that carry them on a cluster in the config (``cluster.object_store``,
``notify.webhook``). Then ``bigtrain compile`` and one small ``bigtrain run`` (tiny data, 1 epoch) run through the
real CLI, with the working dir, pipeline root, serving root and TMPDIR all under one directory, and every file
written there (compiled YAML, run dir, logs, summary, report, registry, models), plus the commands' own output, is
searched byte for byte for each secret value. The webhook receiver checks that the planted URL really was used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from components.notify.webhook import WEBHOOK_ENV
from pipelines.kubeflow.auth import TOKEN_ENV
from tests.conftest import DEMO_CONFIG, REPO

SECRET_PATH = "hooks/T0SECRETPATH7c1e/B0b5e7"  # the part of a Slack-style webhook URL that is the credential
SECRETS = {
    TOKEN_ENV: "kfp-token-PLANTED-4f9d2a71c3e8",
    "AWS_ACCESS_KEY_ID": "AKIAPLANTED7XK2Q9ZD",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-PLANTED-wJalrXUtnFEMI9b1",
}
SECRET_NAMES = {"object_store": "bigtrain-object-store-planted", "webhook": "bigtrain-webhook-planted"}


class _Receiver(BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).paths.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, list[str]]]:
    """A local webhook receiver: (the planted URL with its secret path, the paths it was posted to)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/{SECRET_PATH}", _Receiver.paths
    finally:
        server.shutdown()
        server.server_close()


def secret_values(webhook_url: str) -> dict[str, str]:
    """Every planted value that must not appear: the env secrets, the webhook URL and its secret path alone."""
    return {**SECRETS, WEBHOOK_ENV: webhook_url, "webhook path": SECRET_PATH}


def leaks(root: Path, values: dict[str, str]) -> list[str]:
    """``file: secret name`` for every file under ``root`` whose bytes contain a secret value."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}: {name}" for name, value in values.items() if value.encode() in data]
    return found


def test_leak_scan_finds_a_planted_value(tmp_path: Path) -> None:
    """The scanner itself works: a value written into a nested binary file is found."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "blob.bin").write_bytes(b"\x00\x01" + SECRETS[TOKEN_ENV].encode() + b"\xff")
    (tmp_path / "clean.txt").write_text("nothing here")
    assert leaks(tmp_path, SECRETS) == [f"a/b/blob.bin: {TOKEN_ENV}"]


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory: pytest.TempPathFactory, receiver: tuple[str, list[str]]) -> dict:
    """``bigtrain compile`` and one small ``bigtrain run`` with every secret planted; what they wrote and printed."""
    url, posted = receiver
    work = tmp_path_factory.mktemp("planted")
    (work / "tmp").mkdir()
    (work / "compiled").mkdir()
    env = {**os.environ, **SECRETS, WEBHOOK_ENV: url, "TMPDIR": str(work / "tmp"), "PYTHONPATH": str(REPO)}

    def bigtrain(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pipelines.cli", *args]
        return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=900)

    made = bigtrain("demo-data", "--rows", "1200", "--output", "data/demo", "--seed", "5")
    assert made.returncode == 0, made.stderr
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["training"]["epochs"] = 1
    config["evaluation"]["thresholds"] = {"auc": {"min": 0.0}}  # 1 epoch on tiny data: bless it, so push writes
    config["cluster"]["object_store"]["secret"] = SECRET_NAMES["object_store"]
    config["notify"] = {"webhook": {"secret": SECRET_NAMES["webhook"], "key": "url"}}
    (work / "run.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    compiled = bigtrain("compile", "--config", "run.yaml", "--output", "compiled/pipeline.yaml")
    assert compiled.returncode == 0, compiled.stderr
    ran = bigtrain("run", "--config", "run.yaml", "--pipeline-root", "runs", "--summary", "summary.json")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    (work / "outputs.txt").write_text("\n".join(p.stdout + p.stderr for p in (made, compiled, ran)))
    summary = json.loads((work / "summary.json").read_text())
    return {"work": work, "url": url, "posted": list(posted), "summary": summary}


@pytest.mark.slow
def test_the_planted_secrets_were_really_used(planted_run: dict) -> None:
    """The run posted its status to the secret URL, and the compiled YAML maps the Secrets by name."""
    assert planted_run["summary"]["ok"]
    assert f"/{SECRET_PATH}" in planted_run["posted"]
    compiled = (planted_run["work"] / "compiled" / "pipeline.yaml").read_text()
    assert all(name in compiled for name in SECRET_NAMES.values())


@pytest.mark.slow
def test_no_file_written_holds_a_secret(planted_run: dict) -> None:
    """Compiled YAML, run dir and logs, summary, report, registry and models, TMPDIR, command output: no secret."""
    work: Path = planted_run["work"]
    written = {p.relative_to(work).parts[0] for p in work.rglob("*") if p.is_file()}
    assert {"compiled", "runs", "serving", "summary.json", "outputs.txt"} <= written
    assert any(p.name == "registry.json" for p in (work / "serving").rglob("*"))
    summary = planted_run["summary"]
    assert summary["pushed"] is not None
    assert all(Path(summary[key]).is_relative_to(work) for key in ("log", "report", "run_dir"))
    assert leaks(work, secret_values(planted_run["url"])) == []
