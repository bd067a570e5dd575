"""Model registry on a TF Serving directory layout: ``<serving_root>/<model_name>/<version>/``.

Each integer-named version directory is a complete SavedModel plus ``bigtrain_version.json`` (its
``RegistryEntry``) and, for versions pushed with them, ``column_stats.json``: the statistics of the data the model
was trained on, so that a later run can measure drift against the served model's data. Neither file is part of the
model's content digest. Those directories are the source of truth; ``registry.json`` next to them is an index
that is rebuilt whenever it disagrees with them.

Publishing is atomic: the model is copied into a dot-prefixed temp directory (TF Serving ignores names that
are not integers) and renamed into place, so a reader never sees a half-written version. Publishers of the
same model are serialized with ``fcntl.flock`` on ``<serving_root>/<model_name>/.lock``. That only works on
local (POSIX) filesystems; an object-store backend (GCS/S3) would need a different seam here, e.g. a
conditional-create on a version marker object instead of a lock and rename.

A rollback (``rollback``) goes through the same publish path: it copies an existing version's files (its data
statistics included) into a new, highest version whose entry records ``rollback_of``; nothing is deleted. Nothing
may escape the serving root: model names are single path components, versions are plain integers, and a model dir
that is a symlink, or holds one that points outside it, is refused. The JSON files are written 0644 so a serving
process under another user can read them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from beam_jobs.layout import COLUMN_STATS_FILE, SAVED_MODEL_FILE
from components.process_guard import require_run_alive

logger = logging.getLogger(__name__)

METADATA_FILE = "bigtrain_version.json"
INDEX_FILE = "registry.json"
LOCK_FILE = ".lock"
TEMP_PREFIX = ".publish-"
JSON_MODE = 0o644

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # the one model-name rule: the config validates with it too
_MODEL_NAME_RE = re.compile(MODEL_NAME_PATTERN)
_VERSION_RE = re.compile(r"[0-9]+")
_MAX_PUBLISH_ATTEMPTS = 100
_CHUNK = 1 << 20
# Top-level files of a version dir that the registry adds beside the model: never part of its content digest.
_REGISTRY_FILES = frozenset({METADATA_FILE, COLUMN_STATS_FILE})

LineageValue = str | int | list[str] | None  # run and run_dir, evaluated_split, baseline_version, data_spans


class RegistryError(ValueError):
    """Invalid registry input or an unusable model directory."""


class VersionChoiceError(RegistryError):
    """The version number asked for is not one to use: not a positive integer, not a complete published version,
    or (to roll back to) the one already served. Other RegistryErrors are about the registry itself."""


class UnknownVersionError(VersionChoiceError):
    """``rollback`` was asked for a version that is not a complete published version."""


@dataclass(frozen=True)
class RegistryEntry:
    """One published model version, as stored in ``bigtrain_version.json`` and in the index."""

    version: int
    path: str
    model_digest: str
    pushed_at: str
    metrics: dict[str, float]
    config_hash: str
    data_fingerprint: str
    code_version: str  # the train step's code version: the code that produced the model
    rollback_of: int | None = None  # the version whose files a rollback republished; None for a normal push
    # Where the model came from: run, evaluated split, baseline version it was compared with, data spans (entries
    # written before spans could be chosen have ``data_span``, an int or None, instead).
    lineage: dict[str, LineageValue] = field(default_factory=dict)

    @property
    def data_spans(self) -> list[str]:
        """The span names the model was trained on; [] without spans (older entries' ``data_span`` is read too)."""
        spans = self.lineage.get("data_spans")
        if isinstance(spans, list):
            return [str(span) for span in spans]
        old = self.lineage.get("data_span")
        return [] if old is None else [str(old)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field; ``rollback_of`` and ``lineage`` only when set (older entries' format)."""
        d = asdict(self)
        if d["rollback_of"] is None:
            del d["rollback_of"]
        if not d["lineage"]:
            del d["lineage"]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RegistryEntry:
        """Build an entry from ``to_dict`` output; raises RegistryError on missing or mistyped fields."""
        try:
            version = d["version"]
            if not isinstance(version, int) or isinstance(version, bool):
                raise TypeError(f"version must be an int, got {version!r}")
            rollback_of = d.get("rollback_of")  # absent in entries written before rollbacks existed
            if rollback_of is not None and (not isinstance(rollback_of, int) or isinstance(rollback_of, bool)):
                raise TypeError(f"rollback_of must be an int or null, got {rollback_of!r}")
            return cls(
                version=version,
                path=str(d["path"]),
                model_digest=str(d["model_digest"]),
                pushed_at=str(d["pushed_at"]),
                metrics={str(k): float(v) for k, v in dict(d["metrics"]).items()},
                config_hash=str(d["config_hash"]),
                data_fingerprint=str(d["data_fingerprint"]),
                code_version=str(d["code_version"]),
                rollback_of=rollback_of,
                lineage=dict(d.get("lineage") or {}),  # absent in entries written before lineage existed
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RegistryError(f"malformed registry entry: {e!r}") from e


@dataclass(frozen=True)
class PublishResult:
    """Outcome of ``publish``; ``created`` is False when an identical model was already published."""

    entry: RegistryEntry
    created: bool


# ---------------------------------------------------------------------------------------------------------------
# Digest and validation


def model_digest(model_dir: str | Path) -> str:
    """Hex sha256 over the sorted (relative path, bytes) of every file in a SavedModel directory.

    The top-level ``bigtrain_version.json`` and ``column_stats.json`` are excluded, so the digest of a published
    version directory equals the digest of the model it was published from.
    """
    root = Path(model_dir)
    h = hashlib.sha256()
    for rel in _model_files(root):
        # Length-prefix both parts so that no two different trees can produce the same byte stream.
        rel_bytes = rel.encode("utf-8")
        h.update(len(rel_bytes).to_bytes(8, "big"))
        h.update(rel_bytes)
        path = root / rel
        h.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def _model_files(root: Path) -> list[str]:
    """Sorted POSIX relative paths of all files under ``root``, minus the registry's own top-level files."""
    rels = []
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=True):
        for name in filenames:
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if rel not in _REGISTRY_FILES:
                rels.append(rel)
    return sorted(rels)


def _check_model_name(model_name: str) -> None:
    if not isinstance(model_name, str) or not _MODEL_NAME_RE.fullmatch(model_name):
        raise RegistryError(f"invalid model_name {model_name!r}: must match {MODEL_NAME_PATTERN}")


def check_version(version: int | str) -> int:
    """A version as an int: a non-negative int, or a string of digits only (so it is one path component)."""
    if isinstance(version, bool):
        raise VersionChoiceError(f"invalid version {version!r}: must be a positive integer")
    if isinstance(version, str):
        if not _VERSION_RE.fullmatch(version) or len(version) > 18:
            raise VersionChoiceError(f"invalid version {version!r}: must be a positive integer")
        version = int(version)
    if not isinstance(version, int) or version < 1:
        raise VersionChoiceError(f"invalid version {version!r}: must be a positive integer")
    return version


def _check_model_dir(model_dir: Path) -> None:
    if not model_dir.is_dir():
        raise RegistryError(f"model_dir {str(model_dir)!r} does not exist or is not a directory")
    if not (model_dir / SAVED_MODEL_FILE).is_file():
        raise RegistryError(f"model_dir {str(model_dir)!r} is not a SavedModel: no {SAVED_MODEL_FILE}")
    _check_symlinks(model_dir)


def _check_symlinks(model_dir: Path) -> None:
    """Refuse symlinks that point outside ``model_dir``, dangle, or loop back to a directory above them.

    The copy follows symlinks, so an escaping link would publish files from elsewhere (and a loop would never end).
    """
    root = model_dir.resolve()
    for dirpath, dirnames, filenames in os.walk(root):  # followlinks=False: links are checked, not entered
        for name in dirnames + filenames:
            link = Path(dirpath) / name
            if not link.is_symlink():
                continue
            rel = link.relative_to(root).as_posix()
            target = link.resolve()
            if not target.is_relative_to(root):
                raise RegistryError(
                    f"model_dir {str(model_dir)!r} has a symlink {rel!r} pointing outside it ({os.readlink(link)})"
                )
            if not target.exists():
                raise RegistryError(f"model_dir {str(model_dir)!r} has a dangling symlink {rel!r}")
            if target.is_dir() and link.parent.resolve().is_relative_to(target):
                raise RegistryError(f"model_dir {str(model_dir)!r} has a symlink loop {rel!r}")


def _check_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if not isinstance(k, str):
            raise RegistryError(f"metric names must be strings, got {k!r}")
        try:
            value = float(v)
        except (TypeError, ValueError) as e:
            raise RegistryError(f"metric {k!r} is not a number: {v!r}") from e
        if not math.isfinite(value):
            # registry.json must stay strict JSON for non-Python readers.
            raise RegistryError(f"metric {k!r} is not finite: {v!r}")
        out[k] = value
    return out


def _utc_iso(now: datetime | None) -> str:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise RegistryError("now must be timezone-aware")
    return now.astimezone(UTC).isoformat()


# ---------------------------------------------------------------------------------------------------------------
# Reading


def _parse_version(name: str) -> int | None:
    return int(name) if _VERSION_RE.fullmatch(name) else None


def _version_dirs(model_root: Path) -> dict[int, Path]:
    """Integer-named subdirectories, complete or not."""
    if not model_root.is_dir():
        return {}
    out = {}
    for child in model_root.iterdir():
        version = _parse_version(child.name)
        if version is not None and child.is_dir():
            out[version] = child
    return out


def _read_metadata(version_dir: Path, version: int) -> RegistryEntry | None:
    """The entry stored in a version dir, or None if it is missing or unreadable (an incomplete version)."""
    try:
        raw = json.loads((version_dir / METADATA_FILE).read_text(encoding="utf-8"))
        entry = RegistryEntry.from_dict(raw)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:  # RegistryError and JSONDecodeError are ValueErrors
        logger.warning("ignoring version dir %s: unreadable %s: %s", version_dir, METADATA_FILE, e)
        return None
    if entry.version != version:
        logger.warning("ignoring version dir %s: metadata says version %d", version_dir, entry.version)
        return None
    # The stored path is where it was published; report where it actually is (roots get remounted).
    return replace(entry, path=str(version_dir))


def _scan(model_root: Path) -> list[RegistryEntry]:
    """Complete versions found on disk, ascending."""
    entries = []
    for version, path in sorted(_version_dirs(model_root).items()):
        entry = _read_metadata(path, version)
        if entry is not None:
            entries.append(entry)
    return entries


def _read_index(model_root: Path) -> list[dict[str, Any]] | None:
    """Raw index contents, or None when missing or corrupt."""
    try:
        raw = json.loads((model_root / INDEX_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        logger.warning("ignoring unreadable %s in %s: %s", INDEX_FILE, model_root, e)
        return None
    return raw if isinstance(raw, list) else None


def _index_matches(model_root: Path, entries: list[RegistryEntry]) -> bool:
    return _read_index(model_root) == [e.to_dict() for e in entries]


def _model_root(serving_root: str | Path, model_name: str) -> Path:
    _check_model_name(model_name)
    model_root = Path(os.path.abspath(serving_root)) / model_name
    if model_root.is_symlink():  # publishing through it would write outside the serving root
        raise RegistryError(f"model dir {str(model_root)!r} is a symlink")
    return model_root


def model_path(serving_root: str | Path, model_name: str) -> Path:
    """``<serving_root>/<model_name>`` (absolute) after validating the name; the dir may not exist."""
    return _model_root(serving_root, model_name)


def served_version(serving_root: str | Path, model_name: str) -> int | None:
    """The highest integer version directory, complete or not: the one TF Serving serves. None if there is none."""
    return max(_version_dirs(_model_root(serving_root, model_name)), default=None)


def list_versions(serving_root: str | Path, model_name: str) -> list[RegistryEntry]:
    """Complete versions of ``model_name``, ascending by version.

    The version directories decide: a dir with valid metadata is listed even if the index misses it, an index
    entry whose dir is gone is dropped, and dirs without metadata or with non-integer names are ignored. When
    the index disagrees it is rewritten (best effort: skipped if a publisher holds the lock or the root is
    read-only, since the next publish or read repairs it anyway).
    """
    model_root = _model_root(serving_root, model_name)
    entries = _scan(model_root)
    if model_root.is_dir() and not _index_matches(model_root, entries):
        _try_repair_index(model_root)
    return entries


def latest(serving_root: str | Path, model_name: str) -> RegistryEntry | None:
    """The highest complete version, or None when nothing is published."""
    entries = list_versions(serving_root, model_name)
    return entries[-1] if entries else None


def _read_statistics(path: Path) -> dict[str, Any]:
    """Column statistics (ingest's ``column_stats.json``) as a dict; RegistryError naming the file otherwise."""
    try:
        parsed = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RegistryError(f"data statistics {str(path)!r} unreadable: {e}") from e
    if not isinstance(parsed, dict):
        raise RegistryError(f"data statistics {str(path)!r}: expected a JSON object, got {type(parsed).__name__}")
    return parsed


def served_data_statistics(
    serving_root: str | Path, model_name: str
) -> tuple[RegistryEntry | None, dict[str, Any] | None]:
    """The latest complete version and the column statistics of the data it was trained on.

    (None, None) when nothing is published; (entry, None) when that version was pushed without statistics (pushed
    before they were published). A statistics file that is there but unreadable raises RegistryError naming it.
    """
    entry = latest(serving_root, model_name)
    if entry is None:
        return None, None
    path = Path(entry.path) / COLUMN_STATS_FILE
    return entry, _read_statistics(path) if path.is_file() else None


# ---------------------------------------------------------------------------------------------------------------
# Writing


@contextlib.contextmanager
def _locked(model_root: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive flock on ``<model_root>/.lock``; yields False if non-blocking and already held."""
    fd = os.open(model_root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            acquired = True
        except BlockingIOError:
            acquired = False
        try:
            yield acquired
        finally:
            if acquired:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _try_repair_index(model_root: Path) -> None:
    try:
        with _locked(model_root, blocking=False) as acquired:
            if acquired:
                _sync_index(model_root, _scan(model_root))
    except OSError as e:
        logger.warning("could not rewrite %s in %s: %s", INDEX_FILE, model_root, e)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON to a dot-prefixed temp file in the same dir, fsync, then ``os.replace`` over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, JSON_MODE)  # mkstemp makes it 0600; the serving side (often another user) must read it
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, sort_keys=True, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _sync_index(model_root: Path, entries: list[RegistryEntry]) -> None:
    """Rewrite the index if it differs from ``entries``. Caller holds the lock."""
    if not _index_matches(model_root, entries):
        _write_json_atomic(model_root / INDEX_FILE, [e.to_dict() for e in entries])


def _copy_file(src: str, dst: str) -> str:
    """Copy one model file and fsync it, so a renamed-in version survives a crash with its bytes."""
    shutil.copy2(src, dst)
    with open(dst, "rb") as f:
        os.fsync(f.fileno())
    return dst


def _stage_model(model_dir: Path, tmp_dir: Path, statistics: Path | None) -> None:
    """Copy the model's files, then the data statistics (when given), into ``tmp_dir``."""
    failed: list[OSError] = []

    def copy(src: str, dst: str) -> str:
        try:
            return _copy_file(src, dst)
        except OSError as e:
            failed.append(e)
            raise

    try:
        shutil.copytree(
            model_dir,
            tmp_dir,
            dirs_exist_ok=True,
            copy_function=copy,
            ignore=lambda d, names: [n for n in names if n in _REGISTRY_FILES] if Path(d) == model_dir else [],
        )
    except shutil.Error:
        if not failed:
            raise
        raise failed[0] from None  # copytree keeps only each error's text; its errno says what happened (ENOSPC)
    if statistics is not None:
        os.chmod(_copy_file(str(statistics), str(tmp_dir / COLUMN_STATS_FILE)), JSON_MODE)


def _remove_dead_temp_dirs(model_root: Path) -> None:
    """Drop temp dirs of publishers that were killed mid-copy. Caller holds the lock, so none is in use."""
    for stale in model_root.glob(f"{TEMP_PREFIX}*"):
        logger.info("removing leftover temp dir %s", stale)
        shutil.rmtree(stale, ignore_errors=True)


def _rename_into_place(tmp_dir: Path, model_root: Path, first_version: int, template: RegistryEntry) -> RegistryEntry:
    """Write metadata and rename ``tmp_dir`` to the first free version >= ``first_version``."""
    version = first_version
    for _ in range(_MAX_PUBLISH_ATTEMPTS):
        target = model_root / str(version)
        # os.rename silently replaces an *empty* target dir, so check first; the OSError branch covers the race.
        if not target.exists():
            entry = replace(template, version=version, path=str(target))
            _write_json_atomic(tmp_dir / METADATA_FILE, entry.to_dict())
            # Under `bigtrain run`, a run whose CLI died (killed mid-push) must not publish; no-op elsewhere.
            require_run_alive(f"publishing {target}")
            try:
                os.rename(tmp_dir, target)
            except OSError as e:
                if not target.exists():
                    raise
                logger.info("version %d was taken concurrently (%s); trying %d", version, e, version + 1)
            else:
                _fsync_dir(model_root)
                return entry
        version += 1
    raise RegistryError(f"no free version found in {model_root} after {_MAX_PUBLISH_ATTEMPTS} attempts")


@contextlib.contextmanager
def _write_errors(model_root: Path) -> Iterator[None]:
    """Turn an OSError from writing under ``model_root`` (disk full, permission denied) into one RegistryError."""
    try:
        yield
    except OSError as e:
        reason = e.strerror or str(e)
        where = f" ({e.filename})" if e.filename and str(e.filename) != str(model_root) else ""
        raise RegistryError(f"cannot publish to {model_root}: {reason}{where}") from e


def _publish_locked(src: Path, model_root: Path, template: RegistryEntry, statistics: Path | None) -> RegistryEntry:
    """Copy ``src`` (and ``statistics``) to a temp dir and rename it to the next version, then sync the index.
    Caller holds the lock.

    The one place a version is created, shared by ``publish`` and ``rollback``: a failure at any point leaves no
    new version and no temp dir behind.
    """
    # Count incomplete integer dirs too: TF Serving would serve them, so a new version must be above them.
    next_version = max(_version_dirs(model_root), default=0) + 1
    tmp_dir = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=model_root))
    try:
        _stage_model(src, tmp_dir, statistics)
        entry = _rename_into_place(tmp_dir, model_root, next_version, template)
    finally:
        # After a successful rename tmp_dir no longer exists; otherwise drop the partial copy.
        shutil.rmtree(tmp_dir, ignore_errors=True)
    try:
        _sync_index(model_root, _scan(model_root))
    except OSError as e:  # the version is complete and listed from its dir; the next publish or read repairs the index
        logger.warning("published version %d; could not rewrite %s: %s", entry.version, INDEX_FILE, e)
    return entry


def publish(
    model_dir: str | Path,
    serving_root: str | Path,
    model_name: str,
    *,
    metrics: Mapping[str, float],
    config_hash: str,
    data_fingerprint: str,
    code_version: str,
    lineage: Mapping[str, LineageValue] | None = None,
    data_statistics: str | Path | None = None,
    now: datetime | None = None,
) -> PublishResult:
    """Atomically publish ``model_dir`` as the next integer version of ``model_name``.

    ``data_statistics`` (ingest's ``column_stats.json``) is published beside the model as ``column_stats.json``.
    Idempotent: if a complete version with the same ``model_digest`` exists it is returned with
    ``created=False`` and nothing is written (except repairing a stale index). A failed write (disk full,
    permission denied) raises RegistryError ``cannot publish to <model dir>: <reason>`` and leaves no new version.
    """
    model_root = _model_root(serving_root, model_name)
    src = Path(model_dir)
    _check_model_dir(src)
    statistics = None if data_statistics is None else Path(data_statistics)
    if statistics is not None:
        _read_statistics(statistics)  # refuse a missing or broken file before anything is written
    template = RegistryEntry(
        version=0,
        path="",
        model_digest=model_digest(src),
        pushed_at=_utc_iso(now),
        metrics=_check_metrics(metrics),
        config_hash=str(config_hash),
        data_fingerprint=str(data_fingerprint),
        code_version=str(code_version),
        lineage=dict(lineage or {}),
    )
    with _write_errors(model_root):
        model_root.mkdir(parents=True, exist_ok=True)
        return _publish_new(src, model_root, template, statistics)


def _publish_new(src: Path, model_root: Path, template: RegistryEntry, statistics: Path | None) -> PublishResult:
    """``publish`` under the lock: return the identical version if there is one, else publish the next version."""
    with _locked(model_root):
        _remove_dead_temp_dirs(model_root)
        entries = _scan(model_root)
        # The newest identical version: after a rollback two versions share a digest, and the newer one is served.
        existing = next((e for e in reversed(entries) if e.model_digest == template.model_digest), None)
        if existing is not None:
            _sync_index(model_root, entries)
            return PublishResult(entry=existing, created=False)
        entry = _publish_locked(src, model_root, template, statistics)
    return PublishResult(entry=entry, created=True)


def rollback(
    serving_root: str | Path, model_name: str, to_version: int | str, *, now: datetime | None = None
) -> RegistryEntry:
    """Republish version ``to_version``'s files as a new, highest version, so TF Serving serves them again.

    The new entry copies the old one's metrics, config hash, data fingerprint and code version, with a new
    ``pushed_at`` and ``rollback_of=to_version``. Nothing is deleted. The copy goes through the same temp dir +
    rename under the lock as ``publish`` (but skips its "identical model already published" shortcut, since
    republishing an identical model is the point). Refuses an unknown version, the version already served, and a
    version dir whose files no longer match its recorded digest.
    """
    version = check_version(to_version)
    model_root = _model_root(serving_root, model_name)
    if not model_root.is_dir():
        raise RegistryError(f"no model {model_name!r} under {os.path.abspath(serving_root)}")
    with _write_errors(model_root), _locked(model_root):
        _remove_dead_temp_dirs(model_root)
        entries = _scan(model_root)
        source = next((e for e in entries if e.version == version), None)
        if source is None:
            metadata = model_root / str(version) / METADATA_FILE
            if metadata.exists():  # a damaged version, not a missing one: name the file
                raise RegistryError(
                    f"version {version} of {model_name!r}: {metadata} is unreadable or invalid; cannot roll back to it"
                )
            known = ", ".join(str(e.version) for e in entries) or "none"
            raise UnknownVersionError(f"model {model_name!r} has no version {version} (versions: {known})")
        if version == max(_version_dirs(model_root)):
            raise VersionChoiceError(f"version {version} of {model_name!r} is already the newest (served) version")
        src = model_root / str(version)
        if src.is_symlink():
            raise RegistryError(f"version dir {str(src)!r} is a symlink")
        _check_model_dir(src)
        if model_digest(src) != source.model_digest:
            raise RegistryError(f"version {version} of {model_name!r}: files no longer match its recorded digest")
        template = replace(source, version=0, path="", pushed_at=_utc_iso(now), rollback_of=version)
        statistics = src / COLUMN_STATS_FILE
        return _publish_locked(src, model_root, template, statistics if statistics.is_file() else None)
