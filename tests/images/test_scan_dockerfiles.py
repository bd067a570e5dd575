"""Static scan of the Dockerfiles with checkov: no failed check, and every inline skip states its reason.

A check is skipped only inside the Dockerfile (`# checkov:skip=CKV_DOCKER_2:reason`), never on the command line,
so the reason sits next to the image it is about. checkov runs once, on the repository's Dockerfiles and on a
known-bad one, which shows that the scan really reports failures.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.images import DOCKERFILES

CHECKOV = Path(sys.executable).parent / "checkov"
SKIP = re.compile(r"checkov:skip=(?P<id>[^:\s]*)(?::(?P<reason>.*))?", re.IGNORECASE)
CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
BAD_DOCKERFILE = "FROM python:latest\nADD . /src\nRUN pip install /src\n"  # latest tag, ADD, no USER


def run_checkov(files: list[Path]) -> dict[str, Any]:
    """checkov's JSON report for ``files``: the dockerfile framework only, no download from the Prisma API."""
    command = [str(CHECKOV), "--framework", "dockerfile", "-o", "json", "--compact", "--quiet", "--skip-download"]
    result = subprocess.run(
        [*command, "-f", *map(str, files)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode in (0, 1), f"checkov failed to run ({result.returncode}):\n{result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    return next(item for item in reports if item.get("check_type") == "dockerfile")


def skip_problems(text: str) -> list[str]:
    """Inline checkov skips without a check id or without a reason."""
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in SKIP.finditer(line):
            if not CHECK_ID.match(match["id"]):
                problems.append(f"line {number}: checkov:skip needs a check id such as CKV_DOCKER_2")
            if not (match["reason"] or "").strip():
                problems.append(f"line {number}: checkov:skip={match['id']} gives no reason")
    return problems


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One checkov run over the repository's Dockerfiles and a known-bad Dockerfile."""
    bad = tmp_path_factory.mktemp("bad-image") / "Dockerfile"
    bad.write_text(BAD_DOCKERFILE)
    report = run_checkov([*DOCKERFILES, bad])
    failed = report.get("results", {}).get("failed_checks", [])
    return {
        "report": report,
        "bad": {check["check_id"] for check in failed if Path(check["file_abs_path"]) == bad},
        "ours": [check for check in failed if Path(check["file_abs_path"]) != bad],
    }


def test_checkov_is_installed() -> None:
    """checkov comes with the test extra, next to this interpreter."""
    assert CHECKOV.exists(), f"{CHECKOV} is missing; run make"


def test_dockerfiles_pass_checkov(scan: dict[str, Any]) -> None:
    """No check fails on the repository's Dockerfiles, and every file was parsed."""
    summary = scan["report"]["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] == len(DOCKERFILES) + 1
    failures = [f"{check['check_id']} {check['check_name']} ({check['file_path']})" for check in scan["ours"]]
    assert failures == []


def test_checkov_reports_a_bad_dockerfile(scan: dict[str, Any]) -> None:
    """The same run fails the known-bad Dockerfile: latest tag, ADD, no USER."""
    assert {"CKV_DOCKER_3", "CKV_DOCKER_4", "CKV_DOCKER_7"} <= scan["bad"]


def test_inline_skips_take_effect(scan: dict[str, Any]) -> None:
    """Each inline skip suppresses at least one result (a mistyped check id would suppress none)."""
    skips = sum(len(SKIP.findall(path.read_text())) for path in DOCKERFILES)
    assert scan["report"]["summary"]["skipped"] >= skips


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_every_skip_gives_a_reason(dockerfile: Path) -> None:
    """Every `# checkov:skip=` in a Dockerfile names a check and says why."""
    assert skip_problems(dockerfile.read_text()) == []


@pytest.mark.parametrize(
    "line",
    [
        "# checkov:skip=CKV_DOCKER_2",
        "# checkov:skip=CKV_DOCKER_2:",
        "# checkov:skip=CKV_DOCKER_2:   ",
        "# checkov:skip=:batch job",
        "# checkov:skip=healthcheck:batch job",
    ],
)
def test_skip_without_id_or_reason_is_reported(line: str) -> None:
    """A skip with no check id or an empty reason is reported."""
    assert skip_problems(f"FROM python:3.11.16-slim-bookworm\n{line}\nUSER 10001\n")
    assert skip_problems(f"{line.split('=')[0]}=CKV_DOCKER_2:a batch job has no health endpoint\n") == []
