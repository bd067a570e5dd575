"""Resolving a data source at run time: which spans, which files, and a fingerprint of both.

A source is a file glob, local or on an object store. It may contain ``{SPAN}`` once, naming a data drop
(``data/span-{SPAN}/*.csv``). A span name is a run of digits (``7``, ``0042``; ordered numerically, zero padding
kept as written) or a date ``YYYY-MM-DD`` (ordered by date). ``data.spans`` chooses the spans a run reads:
``latest`` (the newest span that has files), ``N`` (the newest N that have files, or all of them when fewer exist)
or a list of names (exactly those, each of which must have files; a listed ``42`` finds ``span-0042``).

Spans are found by listing the source with ``{SPAN}`` as ``*``. A path whose span part is neither kind of name is
not a span and is ignored (``span-tmp/``, ``span-11x/``); a source holding both numbered and dated spans is an error,
since neither order would be the right one.

The fingerprint is a cache key for every step that reads the data: the chosen span names, and the files' content
(local) or size and mtime (object stores: reading every object would cost as much as the ingest).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import PositiveInt

SPAN_TOKEN = "{SPAN}"
SpanSelection = Literal["latest"] | PositiveInt | list[str]  # data.spans: the newest, the newest N, or these
_SPAN_NAME = re.compile(r"^(?:[0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2})$")
_SPAN_GROUP = r"(?P<span>[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]+)"  # a date first: 2026-11-28 is not the number 2026
_CHUNK = 1 << 20

FileStat = tuple[str, int, float]  # (path, size in bytes, mtime)


class SourceError(FileNotFoundError):
    """The data source has no files for the chosen spans; the message names ``data.source`` or ``data.spans``."""


@dataclass(frozen=True)
class SpanFiles:
    """The files of one chosen span (``span`` is "" for a source without ``{SPAN}``)."""

    span: str
    pattern: str
    files: tuple[FileStat, ...]


@dataclass(frozen=True)
class ResolvedSource:
    """The concrete files of one run: one pattern per chosen span, oldest first."""

    patterns: tuple[str, ...]
    spans: tuple[str, ...]  # as written in the paths; empty for a source without {SPAN}
    files: tuple[str, ...]
    fingerprint: str


def check_span_name(name: str) -> str:
    """``name`` when it can name a span (digits, or a date as YYYY-MM-DD); raises ValueError otherwise."""
    if not _SPAN_NAME.match(name):
        raise ValueError(f"span {name!r} is neither a number nor a date (YYYY-MM-DD)")
    return name


def describe_spans(spans: Sequence[str]) -> str:
    """Span names for people: a few in full, a longer window as its oldest … newest and how many."""
    return ", ".join(spans) if len(spans) <= 3 else f"{spans[0]} … {spans[-1]} ({len(spans)} spans)"


def _match(pattern: str) -> list[FileStat]:
    """(path, size, mtime) of every file matching ``pattern``, sorted by path.

    Object stores go through Beam's filesystems; local paths through the standard library, which matches the same
    files (``**`` recursive, hidden files included) without Beam's ~2 s import in a never-cached step.
    """
    if "://" not in pattern:
        paths = (p for p in glob.glob(pattern, recursive=True, include_hidden=True) if os.path.isfile(p))
        return sorted((p, (st := os.stat(p)).st_size, st.st_mtime) for p in paths)
    from apache_beam.io.filesystems import FileSystems

    found = FileSystems.match([pattern])[0].metadata_list
    return sorted((m.path, m.size_in_bytes, m.last_updated_in_seconds) for m in found)


def _glob_regex(text: str) -> str:
    """A regex matching what the glob ``text`` matches: ``**`` across directories, ``*``/``?`` within one name."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif text.startswith("**", i):
            out.append(".*")
            i += 2
        elif text[i] == "*":
            out.append("[^/]*?")  # lazy: the span is read from the first place it can be
            i += 1
        elif text[i] == "?":
            out.append("[^/]")
            i += 1
        elif text[i] == "[" and (end := text.find("]", i + 2)) != -1:
            body = text[i + 1 : end].replace("\\", "\\\\")
            out.append(f"[^{body[1:]}]" if body.startswith("!") else f"[{body}]")
            i = end + 1
        else:
            out.append(re.escape(text[i]))
            i += 1
    return "".join(out)


def _span_key(name: str) -> int | str:
    """The order of a span name: its number, or the date itself (YYYY-MM-DD sorts as dates do)."""
    return int(name) if name.isdigit() else name


def _spans_with_files(source: str) -> dict[int | str, set[str]]:
    """Every span of ``source`` that has files: its order key and the name(s) it is written as."""
    head, tail = source.split(SPAN_TOKEN)
    path_re = re.compile(_glob_regex(head) + _SPAN_GROUP + _glob_regex(tail))
    found: dict[int | str, set[str]] = {}
    for path, _, _ in _match(source.replace(SPAN_TOKEN, "*")):
        matched = path_re.fullmatch(path)
        if matched:
            found.setdefault(_span_key(matched["span"]), set()).add(matched["span"])
    kinds = {type(key) for key in found}
    if len(kinds) > 1:
        numbered = min(k for k in found if isinstance(k, int))
        dated = min(k for k in found if isinstance(k, str))
        raise SourceError(
            f"data.source: {source!r} has both numbered and dated spans ({min(found[numbered])}, {dated}); "
            "keep one kind"
        )
    return found


def _choose(found: dict[int | str, set[str]], spans: SpanSelection, source: str) -> list[str]:
    """The chosen span names, oldest first."""
    if isinstance(spans, list):
        keys = [_span_key(check_span_name(name)) for name in spans]
        missing = [name for name, key in zip(spans, keys, strict=True) if key not in found]
        if missing:
            raise SourceError(f"data.spans: no files for span {', '.join(missing)} under data.source {source!r}")
    elif spans == "latest" or (isinstance(spans, int) and not isinstance(spans, bool) and spans > 0):
        if not found:
            raise SourceError(f"data.source: no span of {source!r} has files")
        keys = sorted(found)[-(1 if spans == "latest" else spans) :]
    else:
        raise ValueError(f"data.spans: expected latest, a positive number or a list of span names, got {spans!r}")
    names = []
    for key in sorted(set(keys)):
        written = sorted(found[key])
        if len(written) > 1:
            raise SourceError(f"data.source: span {' and '.join(written)} are one span written two ways; rename one")
        names.append(written[0])
    return names


def choose_files(source: str, spans: SpanSelection = "latest") -> list[SpanFiles]:
    """The chosen spans of ``source`` (oldest first) with their files, listed but not read; raises SourceError.

    Without ``{SPAN}`` in ``source`` it is one group: the source itself, all its files, span "".
    """
    if SPAN_TOKEN not in source:
        if spans != "latest":
            raise ValueError(f"data.spans: choosing spans needs {SPAN_TOKEN} in data.source, got {source!r}")
        chosen = [("", source)]
    elif source.count(SPAN_TOKEN) > 1:
        raise SourceError(f"data.source: {SPAN_TOKEN} may appear once, got {source!r}")
    else:
        names = _choose(_spans_with_files(source), spans, source)
        chosen = [(name, source.replace(SPAN_TOKEN, name)) for name in names]
    groups = []
    for span, pattern in chosen:
        files = _match(pattern)
        if not files:  # a span listed a moment ago may have been removed since
            raise SourceError(f"data.source: no files match {pattern!r}")
        groups.append(SpanFiles(span, pattern, tuple(files)))
    return groups


def fingerprint(groups: Sequence[SpanFiles]) -> str:
    """A short hash of each span's name and its files: names and content (local) or names, sizes and mtimes
    (object stores). A source without spans hashes as it did before spans could be chosen."""
    digest = hashlib.sha256()
    for group in groups:
        if group.span:
            digest.update(f"span {group.span}".encode() + b"\0")
        for path, size, mtime in group.files:
            digest.update(Path(path).name.encode() + b"\0")
            if "://" in path:
                digest.update(f"{size}:{mtime}".encode())
            else:
                with open(path, "rb") as handle:
                    while chunk := handle.read(_CHUNK):
                        digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def resolve_source(source: str, spans: SpanSelection = "latest") -> ResolvedSource:
    """The files a run reads now: the spans ``spans`` chooses (see the module doc), with their fingerprint."""
    groups = choose_files(source, spans)
    return ResolvedSource(
        patterns=tuple(group.pattern for group in groups),
        spans=tuple(group.span for group in groups if group.span),
        files=tuple(path for group in groups for path, _, _ in group.files),
        fingerprint=fingerprint(groups),
    )
