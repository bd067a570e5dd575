"""Rules for the component Dockerfiles.

Each rule is a function from Dockerfile text to a list of problems. The repository's Dockerfiles must have none,
and a small good Dockerfile with one deliberate fault must have at least one, so every rule is shown to bite.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import requires, version
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from components.train.tfjob import USER_ID
from tests.images import DOCKERFILES, REPO

LOCK = "requirements.lock"
VENV = "/opt/venv"
BUILD_TOOLS = frozenset({"build-essential", "gcc", "g++", "make", "clang", "cmake"})
MUST_IGNORE = (".venv", "runs", "data", "serving", ".git")
REQUIRED_ENV = {"TF_USE_LEGACY_KERAS": "1", "PYTHONUNBUFFERED": "1"}
REQUIRED_LABELS = ("org.opencontainers.image.source", "org.opencontainers.image.title")
IMAGE_EXTRAS = frozenset({"gpu"})  # the image installs the project plain (CPU) or with [gpu], never [test]
EXACT_TAG = re.compile(r"^v?\d+\.\d+\.\d+(?:[-_.][\w.-]*)?$")  # 3.11.16, 3.11.16-slim-bookworm; not 3.11-slim
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
SHELL_OPERATOR = re.compile(r"^[();<>|&]+$")
PROJECT_SPEC = re.compile(r"^(?P<path>\.{1,2}(?:/[^\[\]]*)?)(?:\[(?P<extras>[^\]]*)\])?$")
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
# pip install options that take a value, so the value is not mistaken for a requirement
PIP_VALUE_OPTIONS = frozenset(
    {
        "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix", "--root",
        "--python", "--src", "--upgrade-strategy", "--platform", "--python-version", "--implementation", "--abi",
        "--progress-bar", "--report", "--log", "--cache-dir", "--timeout", "--retries", "--proxy", "--cert",
        "--client-cert", "--trusted-host", "--no-binary", "--only-binary", "-C", "--config-settings",
        "--global-option", "--exists-action", "--root-user-action", "--keyring-provider", "--use-feature",
        "--use-deprecated",
    }
)  # fmt: skip


# --------------------------------------------------------------------------------------------------- parsing


@dataclass
class Stage:
    """One build stage: its base image, its alias and its instructions (dockerfile_parse dicts)."""

    image: str
    name: str | None
    instructions: list[dict[str, Any]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The instructions of one kind (RUN, COPY, ...) in this stage."""
        return [ins for ins in self.instructions if ins["instruction"] == kind]


@dataclass
class PipInstall:
    """The parts of one `pip install` command that matter here."""

    constraints: list[str] = field(default_factory=list)
    requirement_files: list[str] = field(default_factory=list)
    editables: list[str] = field(default_factory=list)
    specs: list[str] = field(default_factory=list)
    no_cache: bool = False


def parse_stages(text: str) -> list[Stage]:
    """The build stages of a Dockerfile, in order."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()), env_replace=False)
    stages: list[Stage] = []
    for ins in parser.structure:
        if ins["instruction"] == "FROM":
            words = [word for word in ins["value"].split() if not word.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(words[0], name, []))
        elif ins["instruction"] != "COMMENT" and stages:
            stages[-1].instructions.append(ins)
    return stages


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of one shell line (a RUN value or a Makefile recipe), split at ; && || | ( )."""
    if script.lstrip().startswith("["):  # exec form: RUN ["pip", "install", ...]
        try:
            return [[str(word) for word in json.loads(script)]]
        except json.JSONDecodeError:
            pass
    script = re.sub(r"\$\((\w+)\)", r"\1", script)  # Make variables: $(BIN)/python -> BIN/python
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: fall back to whitespace
        tokens = script.split()
    commands: list[list[str]] = [[]]
    for token in tokens:
        if SHELL_OPERATOR.match(token):
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


# Options whose value is collected, by the PipInstall list it goes to: (short, long) spellings.
_LIST_OPTIONS = {
    "constraints": ("-c", "--constraint"),
    "requirement_files": ("-r", "--requirement"),
    "editables": ("-e", "--editable"),
}


def _list_option(word: str, words: Iterator[str]) -> tuple[str, str] | None:
    """(PipInstall field, value) when ``word`` is one of the collected options in any spelling: ``-c x``,
    ``--constraint x``, ``--constraint=x`` or ``-cx``."""
    for name, (short, long) in _LIST_OPTIONS.items():
        if word in (short, long):
            return name, next(words, "")
        if word.startswith(long + "="):
            return name, word.partition("=")[2]
        if word.startswith(short) and not word.startswith("--"):
            return name, word[len(short) :]
    return None


def _parse_install(args: list[str]) -> PipInstall:
    install = PipInstall()
    words = iter(args)
    for word in words:
        if found := _list_option(word, words):
            getattr(install, found[0]).append(found[1])
        elif word == "--no-cache-dir":
            install.no_cache = True
        elif word in PIP_VALUE_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            install.specs.append(word)
    return install


def pip_installs(script: str) -> list[PipInstall]:
    """Every `pip install` (pip, pip3, /venv/bin/pip, python -m pip) in one shell line."""
    found = []
    for words in shell_commands(script):
        for position, word in enumerate(words[:-1]):
            if re.fullmatch(r"pip[\d.]*", PurePosixPath(word).name) and words[position + 1] == "install":
                found.append(_parse_install(words[position + 2 :]))
                break
    return found


def makefile_pip_installs(makefile: str) -> list[PipInstall]:
    """Every `pip install` in a Makefile's lines (continuations joined, comments skipped)."""
    lines = makefile.replace("\\\n", " ").splitlines()
    return [install for line in lines if not line.lstrip().startswith("#") for install in pip_installs(line)]


def project_spec(spec: str) -> tuple[str, frozenset[str]] | None:
    """(path, extras) when ``spec`` is a local project such as `.` or `'.[gpu]'`, else None."""
    match = PROJECT_SPEC.match(spec)
    if not match:
        return None
    extras = frozenset(extra.strip() for extra in (match["extras"] or "").split(",") if extra.strip())
    return str(PurePosixPath(match["path"])), extras


def key_values(value: str) -> dict[str, str]:
    """KEY=VALUE pairs of an ENV, LABEL or ARG value (also the legacy `ENV KEY value` form)."""
    words = shlex.split(value)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words if "=" in word)


def copy_words(value: str) -> list[str]:
    """The words of a COPY/ADD value, flags included (shell or exec form)."""
    if value.lstrip().startswith("["):
        try:
            return [str(word) for word in json.loads(value)]
        except json.JSONDecodeError:
            pass
    return shlex.split(value)


def dockerignore_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore file, in order."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts, position = [], 0
    while position < len(pattern):
        if pattern.startswith("**/", position):
            parts.append("(?:.*/)?")
            position += 3
        elif pattern.startswith("**", position):
            parts.append(".*")
            position += 2
        elif pattern[position] == "*":
            parts.append("[^/]*")
            position += 1
        elif pattern[position] == "?":
            parts.append("[^/]")
            position += 1
        else:
            parts.append(re.escape(pattern[position]))
            position += 1
    return re.compile("".join(parts) + r"\Z")


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore ``patterns`` keep ``path`` out of the build context (last match wins, ! re-includes)."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:count]) for count in range(1, len(parts) + 1)]  # a path and its parents
    ignored = False
    for raw in patterns:
        exclude = not raw.startswith("!")
        regex = _pattern_regex(str(PurePosixPath(raw.removeprefix("!").strip().lstrip("/"))))
        if any(regex.match(candidate) for candidate in candidates):
            ignored = exclude
    return ignored


# ----------------------------------------------------------------------------------------------------- rules


def unpinned_bases(text: str) -> list[str]:
    """Every FROM names an exact patch tag or a sha256 digest; never latest, never a floating tag like 3.11-slim."""
    problems, aliases = [], set()
    for index, stage in enumerate(parse_stages(text)):
        image = stage.image
        if image.lower() in aliases or (image.isdigit() and int(image) < index) or image == "scratch":
            pass  # an earlier stage, or nothing
        elif "$" in image:
            problems.append(f"FROM {image}: a build arg cannot be checked; pin the image in the Dockerfile")
        else:
            reference, _, digest = image.partition("@")
            last = reference.rsplit("/", 1)[-1]
            tag = last.partition(":")[2] if ":" in last else ""
            if tag == "latest" or (not tag and not digest):
                problems.append(f"FROM {image}: no tag or `latest`; pin an exact patch tag or a digest")
            elif digest and not DIGEST.match(digest):
                problems.append(f"FROM {image}: malformed digest (want sha256:<64 hex>)")
            elif not digest and not EXACT_TAG.match(tag):
                problems.append(f"FROM {image}: floating tag {tag!r}; pin an exact patch version or a digest")
        if stage.name:
            aliases.add(stage.name.lower())
    return problems


def final_user_problems(text: str) -> list[str]:
    """The final stage ends as a numeric non-root user (Kubernetes runAsNonRoot can only verify a numeric UID)."""
    stages = parse_stages(text)
    users = stages[-1].of("USER") if stages else []
    if not users:
        return ["the final stage sets no USER, so the container runs as root"]
    user = users[-1]["value"].split(":")[0].strip()
    if user == "root":
        return ["USER root: the container runs as root"]
    if not user.isdigit():
        return [f"USER {user}: use a numeric UID"]
    if int(user) == 0:
        return ["USER 0: the container runs as root"]
    return []


def entrypoint_problems(text: str) -> list[str]:
    """No ENTRYPOINT anywhere: KFP sets the command (python3 -m kfp.dsl.executor_main ...)."""
    return [
        f"line {ins['startline'] + 1}: ENTRYPOINT; KFP sets the command"
        for stage in parse_stages(text)
        for ins in stage.of("ENTRYPOINT")
    ]


def build_tool_problems(text: str) -> list[str]:
    """The final stage installs no compilers or build tools with apt."""
    stages = parse_stages(text)
    problems = []
    for ins in stages[-1].of("RUN") if stages else []:
        for words in shell_commands(ins["value"]):
            if words[0] in ("apt-get", "apt") and "install" in words:
                tools = BUILD_TOOLS.intersection(words)
                if tools:
                    problems.append(f"line {ins['startline'] + 1}: the final stage installs {sorted(tools)}")
    return problems


def apt_list_problems(text: str) -> list[str]:
    """A RUN that runs `apt-get update` also removes /var/lib/apt/lists in the same layer."""
    problems = []
    for stage in parse_stages(text):
        for ins in stage.of("RUN"):
            commands = shell_commands(ins["value"])
            updates = any(words[:2] in (["apt-get", "update"], ["apt", "update"]) for words in commands)
            if updates and "/var/lib/apt/lists" not in ins["value"]:
                problems.append(f"line {ins['startline'] + 1}: apt-get update leaves /var/lib/apt/lists behind")
    return problems


def pip_cache_problems(text: str) -> list[str]:
    """Every pip install runs with --no-cache-dir, or PIP_NO_CACHE_DIR set in that stage."""
    problems = []
    for stage in parse_stages(text):
        env_no_cache = False
        for ins in stage.instructions:
            if ins["instruction"] == "ENV" and "PIP_NO_CACHE_DIR" in key_values(ins["value"]):
                env_no_cache = key_values(ins["value"])["PIP_NO_CACHE_DIR"].lower() in TRUE_VALUES
            elif ins["instruction"] == "RUN" and not env_no_cache and not all(
                install.no_cache for install in pip_installs(ins["value"])
            ):
                problems.append(f"line {ins['startline'] + 1}: pip install keeps its cache in the layer")
    return problems


def install_source_problems(text: str, makefile: str) -> list[str]:
    """The image installs exactly as the Makefile does: `-c requirements.lock` and the same project, never editable.

    The Makefile runs `pip install -c requirements.lock -e '.[test]'`; the image runs `pip install -c
    requirements.lock .` (and `.[gpu]` for the GPU variant). Both read the one constraints file, so the development
    environment and the image cannot drift apart.
    """
    make = [
        install
        for install in makefile_pip_installs(makefile)
        if any(project_spec(spec) for spec in install.specs + install.editables)
    ]
    if len(make) != 1:
        return [f"Makefile: expected one pip install of the project, found {len(make)}"]
    problems = []
    if make[0].constraints != [LOCK]:
        problems.append(f"Makefile: the project install uses constraints {make[0].constraints}, want [{LOCK!r}]")
    make_path = next(spec[0] for spec in map(project_spec, make[0].specs + make[0].editables) if spec)

    runs = [ins["value"] for stage in parse_stages(text) for ins in stage.of("RUN")]
    docker = [install for run in runs for install in pip_installs(run)]
    if not docker:
        problems.append("the Dockerfile runs no pip install")
    plain = False
    for install in docker:
        if install.constraints != make[0].constraints:
            problems.append(f"pip install -c {install.constraints}; the Makefile uses -c {make[0].constraints}")
        if install.editables:
            problems.append(f"editable install {install.editables} in the image")
        if install.requirement_files:
            problems.append(f"pip install -r {install.requirement_files}: a second requirements source")
        specs = [project_spec(spec) for spec in install.specs]
        if len(specs) != 1 or specs[0] is None:
            problems.append(f"pip install {install.specs}: the image installs only the project ({make_path})")
            continue
        path, extras = specs[0]
        if path != make_path:
            problems.append(f"pip install {path}: the Makefile installs {make_path}")
        if not extras <= IMAGE_EXTRAS:
            problems.append(f"pip install {path} with extras {sorted(extras)}; the image allows {sorted(IMAGE_EXTRAS)}")
        plain = plain or not extras
    if docker and not plain:
        problems.append("no pip install of the plain project (the CPU image)")
    return problems


def _in_repo(root: Path, source: str) -> bool:
    try:
        return (root / source).exists() or any(root.glob(source))
    except (ValueError, NotImplementedError):  # absolute or otherwise unusable glob
        return False


def copy_source_problems(text: str, root: Path, ignore: list[str]) -> list[str]:
    """Every path copied from the build context exists in the repository and is not excluded by .dockerignore."""
    problems = []
    for stage in parse_stages(text):
        for ins in stage.of("COPY") + stage.of("ADD"):
            words = copy_words(ins["value"])
            if any(word.startswith("--from=") for word in words):
                continue
            for source in [word for word in words if not word.startswith("--")][:-1]:
                if not _in_repo(root, source):
                    problems.append(f"line {ins['startline'] + 1}: COPY {source}: not in the repository")
                elif dockerignored(source, ignore):
                    problems.append(f"line {ins['startline'] + 1}: COPY {source}: excluded by .dockerignore")
    return problems


def project_copy_problems(text: str, pyproject: dict[str, Any]) -> list[str]:
    """The build context copies what `pip install .` needs: pyproject.toml, its readme, the lock and every package."""
    copied = set()
    for stage in parse_stages(text):
        for ins in stage.of("COPY"):
            words = copy_words(ins["value"])
            if not any(word.startswith("--from=") for word in words):
                copied.update(str(PurePosixPath(word)) for word in [w for w in words if not w.startswith("--")][:-1])
    if "." in copied:
        return []
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = {"pyproject.toml", LOCK, pyproject["project"]["readme"]} | {p.rstrip("*") for p in packages}
    return [f"the Dockerfile does not copy {path}" for path in sorted(needed - copied)]


def venv_layout_problems(text: str) -> list[str]:
    """Multi-stage: the builder installs into /opt/venv, the final stage only copies that venv and installs nothing."""
    stages = parse_stages(text)
    if len(stages) < 2:
        return ["not a multi-stage build: install in a builder stage and copy the venv"]
    earlier = {stage.name for stage in stages[:-1] if stage.name} | {str(index) for index in range(len(stages) - 1)}
    problems = []
    copies_venv = False
    for ins in stages[-1].of("COPY"):
        words = copy_words(ins["value"])
        sources = [word for word in words if not word.startswith("--")][:-1]
        if any(word.partition("=")[2] in earlier for word in words if word.startswith("--from=")) and VENV in sources:
            copies_venv = True
    if not copies_venv:
        problems.append(f"the final stage does not COPY --from=<builder> {VENV}")
    for ins in stages[-1].of("RUN"):
        if pip_installs(ins["value"]):
            problems.append(f"line {ins['startline'] + 1}: pip install in the final stage; install in the builder")
    return problems


def runtime_env_problems(text: str) -> list[str]:
    """The final stage puts the venv first on PATH and sets TF_USE_LEGACY_KERAS=1 and PYTHONUNBUFFERED=1."""
    stages = parse_stages(text)
    env: dict[str, str] = {}
    for ins in stages[-1].of("ENV") if stages else []:
        env.update(key_values(ins["value"]))
    problems = [f"ENV {key}={value} missing" for key, value in REQUIRED_ENV.items() if env.get(key) != value]
    if env.get("PATH", "").split(":")[0] != f"{VENV}/bin":
        problems.append(f"PATH does not start with {VENV}/bin, so python3 is not the venv's")
    return problems


def label_problems(text: str) -> list[str]:
    """The final stage carries the OCI source and title labels."""
    stages = parse_stages(text)
    labels: dict[str, str] = {}
    for ins in stages[-1].of("LABEL") if stages else []:
        labels.update(key_values(ins["value"]))
    return [f"LABEL {key} missing" for key in REQUIRED_LABELS if not labels.get(key)]


def dockerignore_problems(text: str) -> list[str]:
    """.dockerignore keeps the local venv, run outputs, data, served models and .git out of the build context."""
    patterns = dockerignore_patterns(text)
    return [f".dockerignore does not exclude {path}" for path in MUST_IGNORE if not dockerignored(path, patterns)]


def gpu_pin_problems(pyproject: dict[str, Any], lock: str, tf_requires: list[str], tf_version: str) -> list[str]:
    """The `gpu` extra is tensorflow[and-cuda] at the pinned TF, and the lock pins every and-cuda wheel in range."""
    dependencies = [Requirement(spec) for spec in pyproject["project"]["dependencies"]]
    tf_pin = next(str(req.specifier) for req in dependencies if req.name == "tensorflow").removeprefix("==")
    problems = []
    wanted = [f"tensorflow[and-cuda]=={tf_pin}"]
    if pyproject["project"].get("optional-dependencies", {}).get("gpu") != wanted:
        problems.append(f"pyproject: the gpu extra should be {wanted}")
    if tf_version != tf_pin:
        problems.append(f"installed tensorflow {tf_version} is not the pinned {tf_pin}; run make")
    pins = {
        canonicalize_name(name): pinned
        for name, _, pinned in (line.strip().partition("==") for line in lock.splitlines())
        if pinned
    }
    for spec in tf_requires:
        req = Requirement(spec)
        if not (req.marker and req.marker.evaluate({"extra": "and-cuda"}) and not req.marker.evaluate({"extra": ""})):
            continue
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            problems.append(f"{LOCK}: no pin for {req.name} (tensorflow[and-cuda] needs {req.specifier})")
        elif pinned not in req.specifier:
            problems.append(f"{LOCK}: {req.name}=={pinned} is outside {req.specifier}")
    return problems


# ----------------------------------------------------------------------------------------------------- tests

MAKEFILE = (REPO / "Makefile").read_text()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
DOCKERIGNORE = (REPO / ".dockerignore").read_text() if (REPO / ".dockerignore").exists() else ""

RULES: dict[str, Callable[[str], list[str]]] = {
    "pinned-base": unpinned_bases,
    "non-root-user": final_user_problems,
    "no-entrypoint": entrypoint_problems,
    "no-build-tools": build_tool_problems,
    "no-apt-lists": apt_list_problems,
    "pip-no-cache": pip_cache_problems,
    "one-requirements-source": partial(install_source_problems, makefile=MAKEFILE),
    "copied-paths-exist": partial(copy_source_problems, root=REPO, ignore=dockerignore_patterns(DOCKERIGNORE)),
    "copies-the-project": partial(project_copy_problems, pyproject=PYPROJECT),
    "venv-layout": venv_layout_problems,
    "runtime-env": runtime_env_problems,
    "oci-labels": label_problems,
}

GOOD = """\
FROM python:3.11.16-slim-bookworm AS builder
RUN python3 -m venv /opt/venv
COPY pyproject.toml requirements.lock README.md ./
COPY beam_jobs ./beam_jobs
COPY components ./components
COPY pipelines ./pipelines
RUN /opt/venv/bin/pip install --no-cache-dir -c requirements.lock .

FROM python:3.11.16-slim-bookworm
LABEL org.opencontainers.image.source=https://example.invalid/bigtrain org.opencontainers.image.title=bigtrain
ENV PATH=/opt/venv/bin:$PATH TF_USE_LEGACY_KERAS=1 PYTHONUNBUFFERED=1
COPY --from=builder /opt/venv /opt/venv
USER 10001
"""
BUILDER_FROM = "FROM python:3.11.16-slim-bookworm AS builder"
FINAL_FROM = "FROM python:3.11.16-slim-bookworm\n"
PIP = "/opt/venv/bin/pip install --no-cache-dir"
INSTALL = f"{PIP} -c requirements.lock ."
FINAL_USER = "USER 10001\n"
COPY_VENV = "COPY --from=builder /opt/venv /opt/venv\n"
BUILDER_NO_CACHE = f"{BUILDER_FROM}\nENV PIP_NO_CACHE_DIR=1"
APT = "RUN apt-get update && apt-get install -y --no-install-recommends {} && rm -rf /var/lib/apt/lists/*\n"

# (rule, [(old, new), ...]): GOOD with each `old` (found exactly once) replaced by `new` breaks `rule`.
BAD: list[tuple[str, list[tuple[str, str]]]] = [
    ("pinned-base", [(BUILDER_FROM, "FROM python:latest AS builder")]),
    ("pinned-base", [(BUILDER_FROM, "FROM python AS builder")]),
    ("pinned-base", [(BUILDER_FROM, "FROM python:3.11-slim AS builder")]),
    ("pinned-base", [(BUILDER_FROM, "FROM python:3.11-slim-bookworm AS builder")]),
    ("pinned-base", [(BUILDER_FROM, "FROM docker.io/library/python:3 AS builder")]),
    ("pinned-base", [(BUILDER_FROM, "FROM python@sha256:0123abcd AS builder")]),
    ("pinned-base", [(FINAL_FROM, "ARG BASE=python:3.11.16-slim-bookworm\nFROM ${BASE}\n")]),
    ("non-root-user", [(FINAL_USER, "")]),
    ("non-root-user", [(FINAL_USER, "USER root\n")]),
    ("non-root-user", [(FINAL_USER, "USER 0:0\n")]),
    ("non-root-user", [(FINAL_USER, "USER bigtrain\n")]),
    ("non-root-user", [(FINAL_USER, "USER 10001\nUSER 0\n")]),
    ("non-root-user", [(FINAL_USER, ""), ("RUN python3 -m venv", "USER 10001\nRUN python3 -m venv")]),
    ("no-entrypoint", [(FINAL_USER, 'USER 10001\nENTRYPOINT ["python3"]\n')]),
    ("no-entrypoint", [("RUN python3 -m venv", "ENTRYPOINT python3\nRUN python3 -m venv")]),
    ("no-build-tools", [(FINAL_USER, APT.format("build-essential") + FINAL_USER)]),
    ("no-build-tools", [(FINAL_USER, APT.format("ca-certificates gcc") + FINAL_USER)]),
    ("no-build-tools", [(FINAL_USER, APT.format("g++") + FINAL_USER)]),
    ("no-build-tools", [(FINAL_USER, APT.format("make") + FINAL_USER)]),
    ("no-apt-lists", [(FINAL_USER, "RUN apt-get update && apt-get install -y curl\n" + FINAL_USER)]),
    ("pip-no-cache", [(INSTALL, "/opt/venv/bin/pip install -c requirements.lock .")]),
    ("pip-no-cache", [(INSTALL, INSTALL + " && /opt/venv/bin/python -m pip install -c requirements.lock '.[gpu]'")]),
    ("one-requirements-source", [(INSTALL, f"{PIP} .")]),
    ("one-requirements-source", [(INSTALL, f"{PIP} -c constraints.txt .")]),
    ("one-requirements-source", [(INSTALL, f"{PIP} -c requirements.lock -e .")]),
    ("one-requirements-source", [(INSTALL, f"{PIP} -c requirements.lock '.[test]'")]),
    ("one-requirements-source", [(INSTALL, f"{PIP} -c requirements.lock '.[gpu]'")]),
    ("one-requirements-source", [(INSTALL, INSTALL + " -r requirements.txt")]),
    ("one-requirements-source", [(INSTALL, f"{INSTALL} && {PIP} tensorflow==2.21.0")]),
    ("one-requirements-source", [(INSTALL, f"{PIP} -c requirements.lock ./beam_jobs")]),
    ("copied-paths-exist", [("COPY beam_jobs ./beam_jobs", "COPY beam_job ./beam_jobs")]),
    ("copied-paths-exist", [("COPY beam_jobs ./beam_jobs", "COPY beam_jobs .venv ./")]),
    ("copies-the-project", [("COPY components ./components\n", "")]),
    ("copies-the-project", [("requirements.lock README.md ./", "requirements.lock ./")]),
    ("venv-layout", [(COPY_VENV, "")]),
    ("venv-layout", [(COPY_VENV, "COPY --from=builder /opt/venv/lib /opt/venv/lib\n")]),
    ("venv-layout", [(FINAL_FROM, ""), (COPY_VENV, "")]),
    ("venv-layout", [(FINAL_USER, f"RUN {INSTALL}\n" + FINAL_USER)]),
    ("runtime-env", [("TF_USE_LEGACY_KERAS=1 ", "")]),
    ("runtime-env", [("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=0")]),
    ("runtime-env", [("PATH=/opt/venv/bin:$PATH", "PATH=$PATH:/opt/venv/bin")]),
    ("oci-labels", [(" org.opencontainers.image.title=bigtrain", "")]),
    ("oci-labels", [("org.opencontainers.image.source=https://example.invalid/bigtrain ", "")]),
]


def mutate(replacements: list[tuple[str, str]]) -> str:
    """GOOD with each replacement applied once (each `old` must occur exactly once)."""
    text = GOOD
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} must occur once in the example"
        text = text.replace(old, new)
    return text


def test_the_cpu_dockerfile_exists() -> None:
    """The top-level Dockerfile is among the checked files."""
    assert REPO / "Dockerfile" in DOCKERFILES


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_dockerfile_follows_rule(dockerfile: Path, rule: str) -> None:
    """The repository's Dockerfiles break no rule."""
    assert RULES[rule](dockerfile.read_text()) == []


@pytest.mark.parametrize("rule", RULES)
def test_good_example_passes(rule: str) -> None:
    """The example the faults are made from passes every rule (so each fault below is what a rule catches)."""
    assert RULES[rule](GOOD) == []


@pytest.mark.parametrize(("rule", "replacements"), BAD, ids=[f"{rule}-{i}" for i, (rule, _) in enumerate(BAD)])
def test_rule_rejects_fault(rule: str, replacements: list[tuple[str, str]]) -> None:
    """Each rule reports a Dockerfile that breaks it."""
    assert RULES[rule](mutate(replacements))


@pytest.mark.parametrize(
    ("rule", "replacements"),
    [
        ("no-build-tools", [("RUN python3 -m venv", APT.format("build-essential") + "RUN python3 -m venv")]),
        ("pip-no-cache", [(INSTALL, "pip install -c requirements.lock ."), (BUILDER_FROM, BUILDER_NO_CACHE)]),
        ("pinned-base", [(FINAL_FROM, "FROM python@sha256:" + "a" * 64 + "\n")]),
        ("pinned-base", [(FINAL_FROM, "FROM builder AS final\n")]),
        ("non-root-user", [(FINAL_USER, "USER 10001:10001\n")]),
        ("one-requirements-source", [(INSTALL, f"{INSTALL} && {PIP} -c requirements.lock '.[gpu]'")]),
    ],
)
def test_rule_accepts_allowed_variant(rule: str, replacements: list[tuple[str, str]]) -> None:
    """What a rule allows: tools in the builder only, the cache off by ENV, digests, stage aliases, a [gpu] install."""
    assert RULES[rule](mutate(replacements)) == []


def test_makefile_and_dockerfile_share_the_requirements_source() -> None:
    """A Makefile that installs with another constraints file, or not at all, is reported."""
    assert install_source_problems(GOOD, MAKEFILE) == []
    assert install_source_problems(GOOD, MAKEFILE.replace("-c requirements.lock", "-c constraints.txt"))
    assert install_source_problems(GOOD, MAKEFILE.replace("-c requirements.lock ", ""))
    assert install_source_problems(GOOD, "venv:\n\tpython -m pip install --upgrade pip\n")


def test_dockerignore_keeps_local_state_out() -> None:
    """.dockerignore excludes .venv, runs, data, serving and .git; dropping or re-including one is reported."""
    assert DOCKERIGNORE, ".dockerignore is missing"
    assert dockerignore_problems(DOCKERIGNORE) == []
    for path in MUST_IGNORE:
        kept = "\n".join(line for line in DOCKERIGNORE.splitlines() if line.strip() != path)
        assert dockerignore_problems(kept), path
        assert dockerignore_problems(DOCKERIGNORE + f"\n!{path}\n"), path
    assert dockerignored(".venv/lib/python3.11/site.py", dockerignore_patterns(DOCKERIGNORE))
    assert not dockerignored("pipelines/configs/demo.yaml", dockerignore_patterns(DOCKERIGNORE))


def test_gpu_extra_and_cuda_pins_match_tensorflow() -> None:
    """pyproject's gpu extra is tensorflow[and-cuda] at the TF pin, and the lock pins every and-cuda wheel in range."""
    lock = (REPO / LOCK).read_text()
    tf_requires = requires("tensorflow") or []
    tf_version = version("tensorflow")
    assert gpu_pin_problems(PYPROJECT, lock, tf_requires, tf_version) == []

    no_extra = {**PYPROJECT, "project": {**PYPROJECT["project"], "optional-dependencies": {}}}
    assert gpu_pin_problems(no_extra, lock, tf_requires, tf_version)
    missing = "\n".join(line for line in lock.splitlines() if not line.startswith("nvidia-cudnn-cu12=="))
    assert gpu_pin_problems(PYPROJECT, missing, tf_requires, tf_version)
    out_of_range = re.sub(r"(?m)^nvidia-cublas-cu12==.*$", "nvidia-cublas-cu12==13.0.0", lock)
    assert gpu_pin_problems(PYPROJECT, out_of_range, tf_requires, tf_version)


def test_the_image_user_is_the_one_pods_run_as() -> None:
    """The compiled step pods and the TFJob's pods run as USER_ID: the Dockerfile's final user must be that UID."""
    users = parse_stages((REPO / "Dockerfile").read_text())[-1].of("USER")
    assert users[-1]["value"].strip() == f"{USER_ID}:{USER_ID}"
