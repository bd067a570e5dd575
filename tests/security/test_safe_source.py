"""No unsafe parsing or execution in project code: every file read from disk goes through a safe loader.

The scan walks the syntax tree of every module under beam_jobs/, components/ and pipelines/ (so comments and
docstrings that mention pickle do not count) and reports, with file and line: ``yaml.load``/``yaml.unsafe_load``/
``yaml.full_load`` (and their ``_all`` forms), any ``yaml.*Loader`` other than the safe ones, importing ``pickle``,
``cPickle``, ``dill``, ``shelve`` or ``marshal``, ``read_pickle``/``to_pickle``, ``allow_pickle=True``, ``eval``,
``exec`` and ``shell=True``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PROJECT_PACKAGES = ("beam_jobs", "components", "pipelines")
UNSAFE_MODULES = frozenset({"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal"})
UNSAFE_YAML = frozenset({"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load", "full_load_all"})
UNSAFE_CALLS = frozenset({"eval", "exec"})
PICKLE_METHODS = frozenset({"read_pickle", "to_pickle"})
SAFE_LOADERS = frozenset({"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"})


def _is_true(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_uses(source: str, filename: str = "<source>") -> list[str]:
    """``line: what`` for every unsafe construct in one module's source."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [f"{line}: import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            found.append(f"{line}: from {node.module} import")
        elif isinstance(node, ast.ImportFrom) and node.module == "yaml":
            found += [f"{line}: from yaml import {a.name}" for a in node.names if a.name in UNSAFE_YAML]
        elif isinstance(node, ast.Attribute):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            unsafe_loader = node.attr.endswith("Loader") and node.attr not in SAFE_LOADERS
            if owner == "yaml" and (node.attr in UNSAFE_YAML or unsafe_loader):
                found.append(f"{line}: yaml.{node.attr}")
            elif node.attr in PICKLE_METHODS:
                found.append(f"{line}: .{node.attr}")
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in UNSAFE_CALLS:
                found.append(f"{line}: {node.func.id}()")
            for keyword in node.keywords:
                if keyword.arg in ("shell", "allow_pickle") and _is_true(keyword.value):
                    found.append(f"{line}: {keyword.arg}=True")
    return found


def project_modules() -> list[Path]:
    """Every Python file of the project's packages."""
    return sorted(path for package in PROJECT_PACKAGES for path in (REPO / package).rglob("*.py"))


def test_the_scan_sees_the_project() -> None:
    """The packages exist and hold modules (a moved package would make the scan vacuous)."""
    modules = project_modules()
    assert {path.relative_to(REPO).parts[0] for path in modules} == set(PROJECT_PACKAGES)
    assert len(modules) > 20


def test_project_code_parses_safely() -> None:
    """No unsafe loader, pickle, eval/exec or shell=True anywhere in beam_jobs/, components/, pipelines/."""
    problems = [
        f"{path.relative_to(REPO)}:{use}"
        for path in project_modules()
        for use in unsafe_uses(path.read_text(encoding="utf-8"), str(path))
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("import yaml\nyaml.load(open('c.yaml'))\n", "2: yaml.load"),
        ("import yaml\nyaml.load(text, Loader=yaml.Loader)\n", "2: yaml.Loader"),
        ("import yaml\nyaml.unsafe_load(text)\n", "2: yaml.unsafe_load"),
        ("from yaml import full_load\n", "1: from yaml import full_load"),
        ("import pickle\n", "1: import pickle"),
        ("from dill import loads\n", "1: from dill import"),
        ("import pandas as pd\npd.read_pickle('x')\n", "2: .read_pickle"),
        ("import numpy as np\nnp.load('x.npy', allow_pickle=True)\n", "2: allow_pickle=True"),
        ("x = eval(text)\n", "1: eval()"),
        ("import subprocess\nsubprocess.run(cmd, shell=True)\n", "2: shell=True"),
    ],
)
def test_scan_reports_unsafe_code(snippet: str, expected: str) -> None:
    """Each unsafe construct is reported with its line."""
    assert expected in unsafe_uses(snippet)


def test_scan_ignores_safe_code_and_comments() -> None:
    """Safe loaders, comments and strings mentioning pickle are not findings."""
    snippet = (
        "import yaml\n"
        "# Beam must pickle this function\n"
        "data = yaml.safe_load(text)\n"
        "docs = list(yaml.safe_load_all(text))\n"
        "yaml.load(text, Loader=yaml.SafeLoader)  # noqa\n"
        "subprocess.run(cmd, shell=False)\n"
        "message = 'eval(x) and pickle are not used'\n"
    )
    assert unsafe_uses(snippet) == ["5: yaml.load"]
