"""``bigtrain --version``, the bearer token (sent, never shown), and one-line errors for an unreachable or
failing KFP API."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.kubeflow.auth import BearerToken, TokenError, find_token
from pipelines.version import STACK
from tests.conftest import DEMO_CONFIG
from tests.kubeflow.fake_kfp import FakeKfp

TOKEN = "tok-7f3a9c1e-DO-NOT-LEAK-5b2d"


def _bigtrain(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KF_PIPELINES_")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, env=environment, capture_output=True, text=True
    )


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("bigtrain: warning: ")]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --version


def test_version_prints_bigtrain_and_the_stack_without_importing_it(tmp_path: Path):
    probe = (
        "import sys\nfrom pipelines.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit as e:\n"
        "    code = e.code\nheavy = ('tensorflow', 'apache_beam', 'tensorflow_transform', 'kfp')\n"
        "print('imported:', [m for m in heavy if m in sys.modules], 'exit:', code)"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    lines = result.stdout.splitlines()
    assert lines[0] == f"bigtrain {metadata.version('bigtrain')}"
    assert [line.split() for line in lines[1:6]] == [[name, metadata.version(name)] for name in STACK]
    assert lines[6] == "imported: [] exit: 0"
    assert _bigtrain("--version", cwd=tmp_path).stdout.splitlines() == lines[:6]


# where the token comes from


def test_token_lookup_order(tmp_path: Path):
    file, pod = tmp_path / "token", tmp_path / "pod-token"
    file.write_text(" from-file\n")
    pod.write_text("from-pod\n")
    env = {"KF_PIPELINES_TOKEN": "from-env", "KF_PIPELINES_TOKEN_FILE": str(file)}

    assert find_token(env, [pod]).value == "from-env"
    assert find_token({"KF_PIPELINES_TOKEN_FILE": str(file)}, [pod]).value == "from-file"
    assert find_token({}, [tmp_path / "missing", pod]) == BearerToken("from-pod", str(pod))
    assert find_token({"KF_PIPELINES_TOKEN": "  "}, [tmp_path / "missing"]) is None


def test_a_bad_token_file_names_the_variable_and_path_not_a_value(tmp_path: Path):
    with pytest.raises(TokenError, match=r"^KF_PIPELINES_TOKEN_FILE: cannot read .*missing"):
        find_token({"KF_PIPELINES_TOKEN_FILE": str(tmp_path / "missing")}, [])
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(TokenError, match=r"is empty$"):
        find_token({"KF_PIPELINES_TOKEN_FILE": str(tmp_path / "empty")}, [])


def test_the_token_hides_in_repr_and_str():
    token = BearerToken(TOKEN, "KF_PIPELINES_TOKEN")
    assert TOKEN not in repr(token) and TOKEN not in str(token) and TOKEN not in f"{token}"


def test_the_token_file_is_sent_as_a_bearer_header(fake: FakeKfp, tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "token").write_text(TOKEN + "\n")
    monkeypatch.setenv("KF_PIPELINES_TOKEN_FILE", str(tmp_path / "token"))
    assert main(["schedule", "--list", "--host", fake.url]) == 0
    assert {r.headers.get("authorization") for r in fake.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in "".join(capsys.readouterr())


def test_without_a_token_no_authorization_header_is_sent(fake: FakeKfp):
    assert main(["schedule", "--list", "--host", fake.url]) == 0
    assert all("authorization" not in r.headers for r in fake.requests)


def _files_containing(root: Path, text: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_the_token_reaches_the_server_and_never_the_output_or_files(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"KF_PIPELINES_TOKEN": TOKEN, "HOME": str(home), "TMPDIR": str(tmp_path)}
    with FakeKfp(multi_user=True) as fake:
        fake.script_next_run(
            ("RUNNING", {"ingest": "RUNNING"}),
            ("FAILED", {"ingest": "FAILED"}),
            task_errors={"ingest": f"PermissionError: bearer {TOKEN} rejected by the bucket"},
        )
        # --namespace kubeflow takes kfp.Client's health-check-in-the-constructor path (multi-user: namespace file)
        argv = ["submit", "--config", str(DEMO_CONFIG), "--host", fake.url, "--namespace", "kubeflow"]
        followed = _bigtrain(*argv, "--wait", "--poll-interval", "0", cwd=tmp_path, env=env)
        fake.fail("POST", r"/pipelines/upload_version$", 403, f"token {TOKEN} may not write namespace kubeflow")
        refused = _bigtrain(*argv, cwd=tmp_path, env=env)
        headers = {r.headers.get("authorization") for r in fake.requests}

    assert followed.returncode == 1, followed.stderr
    (error,) = _errors(followed.stderr)
    assert "FAILED at step ingest: PermissionError: bearer <token> rejected by the bucket" in error
    assert refused.returncode == 1
    assert _errors(refused.stderr) == [
        "bigtrain: error: Kubeflow Pipelines answered 403 Forbidden while uploading a pipeline version: "
        "token <token> may not write namespace kubeflow"
    ]
    assert headers == {f"Bearer {TOKEN}"}
    for result in (followed, refused):
        assert TOKEN not in result.stdout and TOKEN not in result.stderr
    assert _files_containing(tmp_path, TOKEN) == []
    assert not (home / ".config" / "kfp").exists()


# one-line errors


def test_an_api_error_is_one_line_with_status_purpose_and_message(fake: FakeKfp, capsys):
    fake.fail("POST", r"/runs$", 500, "internal error: database is locked")
    assert main(["submit", "--config", str(DEMO_CONFIG), "--host", fake.url]) == 1
    assert _errors(capsys.readouterr().err) == [
        "bigtrain: error: Kubeflow Pipelines answered 500 Internal Server Error while creating the run: "
        "internal error: database is locked"
    ]


def test_a_forbidden_upload_is_one_line(fake: FakeKfp, capsys):
    fake.fail("POST", r"/pipelines/upload$", 403, "user is not allowed to create pipelines in namespace bigtrain")
    assert main(["submit", "--config", str(DEMO_CONFIG), "--host", fake.url]) == 1
    (line,) = _errors(capsys.readouterr().err)
    assert line.startswith("bigtrain: error: Kubeflow Pipelines answered 403 Forbidden while uploading the pipeline:")
    assert fake.runs == {}


def test_a_failing_health_check_is_tried_once(fake: FakeKfp, capsys):
    fake.fail("GET", r"/healthz$", 503, "starting up", times=5)
    assert main(["schedule", "--list", "--host", fake.url]) == 1
    assert capsys.readouterr().err == (
        "bigtrain: error: Kubeflow Pipelines answered 503 Service Unavailable while checking the API health: "
        "starting up\n"
    )
    assert len(fake.calls("GET", "/healthz")) == 1


def test_a_login_page_instead_of_the_api_is_one_line(fake: FakeKfp, capsys):
    fake.serve_login_page()
    assert main(["schedule", "--list", "--host", fake.url]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"bigtrain: error: {fake.url} is not answering as the Kubeflow Pipelines API")
    assert "text/html" in line


def test_an_unreachable_host_is_one_line_and_exit_1(tmp_path: Path):
    url = f"http://127.0.0.1:{_closed_port()}"
    result = _bigtrain("submit", "--config", str(DEMO_CONFIG), "--host", url, cwd=tmp_path)
    assert result.returncode == 1
    (line,) = _errors(result.stderr)
    assert line.startswith(f"bigtrain: error: cannot reach Kubeflow Pipelines at {url}: ")
    assert "Connection refused" in line
    assert result.stdout == ""


def test_an_unreachable_host_for_list_is_one_line(capsys):
    url = f"http://127.0.0.1:{_closed_port()}"
    assert main(["schedule", "--list", "--host", url]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"bigtrain: error: cannot reach Kubeflow Pipelines at {url}: ")


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("localhost:8080", "bigtrain: error: --host 'localhost:8080': give the API URL"),
        (None, "bigtrain: error: --host: required"),
    ],
)
def test_a_missing_or_bare_host_is_a_usage_error(host: str | None, message: str, capsys):
    argv = ["schedule", "--list"] + (["--host", host] if host else [])
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(message)


def test_the_host_defaults_to_kf_pipelines_endpoint(fake: FakeKfp, monkeypatch):
    monkeypatch.setenv("KF_PIPELINES_ENDPOINT", fake.url)
    assert main(["schedule", "--list"]) == 0
    assert fake.calls("GET", "/recurringruns")
