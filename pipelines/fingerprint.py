"""Cache keys that KFP cannot compute itself: each step's code version (the data fingerprint is in beam_jobs.sources).

KFP keys its cache on component source, image string and arguments only, so changed library code or
re-written data would be served stale results. Both hashes are passed as inputs to every cached task.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import textwrap
from collections.abc import Callable
from pathlib import Path

PROJECT_PACKAGES = ("beam_jobs", "components", "pipelines")


def _imported_modules(source: str) -> set[str]:
    """Module names a piece of source imports (``from a.b import c`` yields ``a.b`` and ``a.b.c``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(textwrap.dedent(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _project_file(module: str) -> Path | None:
    """The source file of a project module, found without importing it (imports can cost seconds)."""
    parts = module.split(".")
    if parts[0] not in PROJECT_PACKAGES:
        return None
    spec = importlib.util.find_spec(parts[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_closure(source: str) -> dict[str, Path]:
    """Every project module that ``source`` imports, directly or through other project modules."""
    found: dict[str, Path] = {}
    pending = sorted(_imported_modules(source))
    while pending:
        module = pending.pop()
        if module in found:
            continue
        path = _project_file(module)
        if path is None:
            continue
        found[module] = path
        pending.extend(_imported_modules(path.read_text()) - set(found))
    return found


def code_version(func: Callable[..., object]) -> str:
    """A content hash of the project code a component function runs (its imports, transitively).

    A change to the trainer re-runs train and what follows, not ingest.
    """
    digest = hashlib.sha256(inspect.getsource(func).encode())
    for module, path in sorted(module_closure(inspect.getsource(func)).items()):
        digest.update(module.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
