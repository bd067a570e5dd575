"""``bigtrain models``: list the pushed versions of a model and roll back to an earlier one.

Both read the registry in ``<serving_root>/<model>/`` (see ``components.push.registry``). TF Serving serves the
highest version number, so that one is "current", and a rollback publishes an earlier version's files again as
a new highest version instead of deleting anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from beam_jobs.sources import describe_spans
from components.push import registry
from components.push.registry import RegistryEntry, RegistryError, VersionChoiceError

AUC_METRIC = "auc"  # the evaluation summary's overall test-split AUC, as push records it
_SHORT = 12  # hash columns in the table; --json has them in full


def _model_root(args: argparse.Namespace) -> Path:
    """The model's registry dir; a bad or missing --serving-root/--model is a ValueError naming the flag."""
    try:
        model_root = registry.model_path(args.serving_root, args.model)
    except RegistryError as error:
        raise ValueError(f"--model: {error}") from error
    if not Path(args.serving_root).is_dir():
        raise ValueError(f"--serving-root: no such directory: {args.serving_root}")
    if not model_root.is_dir():
        raise ValueError(f"--model: no model {args.model!r} under --serving-root {args.serving_root} ({model_root})")
    return model_root


def _blessing(entry: RegistryEntry) -> str:
    # Only blessed models are pushed; a rollback republishes one that was blessed when it was pushed.
    return "blessed" if entry.rollback_of is None else f"rollback of {entry.rollback_of}"


def _pushed(pushed_at: str) -> str:
    try:
        return datetime.fromisoformat(pushed_at).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return pushed_at


def _short(value: str) -> str:
    return value if len(value) <= _SHORT else value[:_SHORT]


def _row(entry: RegistryEntry, current: int | None) -> dict[str, Any]:
    return {
        **entry.to_dict(),
        "rollback_of": entry.rollback_of,
        "test_auc": entry.metrics.get(AUC_METRIC),
        "data_spans": entry.data_spans,  # also read from entries written before spans could be chosen
        "blessing": _blessing(entry),
        "current": entry.version == current,
    }


def _table(rows: list[dict[str, Any]]) -> str:
    header = ("VERSION", "PUSHED (UTC)", "TEST AUC", "BLESSING", "DATA", "SPANS", "CODE", "CONFIG", "CURRENT")
    lines = [header]
    for r in rows:
        auc = "-" if r["test_auc"] is None else f"{r['test_auc']:.3f}"
        lines.append(
            (
                str(r["version"]),
                _pushed(r["pushed_at"]),
                auc,
                r["blessing"],
                _short(r["data_fingerprint"]),
                describe_spans(r["data_spans"]) or "-",
                _short(r["code_version"]),
                _short(r["config_hash"]),
                "*" if r["current"] else "",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def _list(args: argparse.Namespace) -> int:
    _model_root(args)
    entries = registry.list_versions(args.serving_root, args.model)
    served = registry.served_version(args.serving_root, args.model)
    newest = entries[-1].version if entries else None
    current = newest if newest is not None and newest == served else None
    rows = [_row(e, current) for e in entries]
    if served is not None and served != newest:
        print(
            f"bigtrain: warning: directory {served} has no readable {registry.METADATA_FILE}; TF Serving serves it, "
            f"not a listed version",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps({"model": args.model, "current": current, "versions": rows}, indent=2, sort_keys=True))
    elif not rows:
        print(f"bigtrain: no versions of {args.model} under {args.serving_root}")
    else:
        print(_table(rows))
    return 0


def _rollback(args: argparse.Namespace) -> int:
    _model_root(args)
    try:
        entry = registry.rollback(args.serving_root, args.model, args.to)
    except VersionChoiceError as error:  # an invalid, unknown or already served version: about --to itself
        raise ValueError(f"--to {args.to}: {error}") from error
    # Other RegistryErrors (a ValueError: one line, exit 2) name the damaged version dir or the failed write.
    print(f"bigtrain: rolled back {args.model} to version {entry.rollback_of}: now serving version {entry.version}")
    print(f"bigtrain: {entry.path}")
    return 0


def add_models_parser(sub: Any) -> None:
    """Add ``models list`` and ``models rollback`` to the top-level subparsers ``sub``."""
    models = sub.add_parser("models", help="list pushed model versions, roll back to an earlier one")
    actions = models.add_subparsers(dest="models_command", required=True)

    def common(command: argparse.ArgumentParser) -> None:
        command.add_argument("--serving-root", required=True, help="the registry root (push.serving_root)")
        command.add_argument("--model", required=True, help="the model name (push.model_name)")

    listing = actions.add_parser("list", help="the versions, their metrics and origin, and which one is served")
    common(listing)
    listing.add_argument("--json", action="store_true", help="print JSON (full hashes) instead of a table")
    listing.set_defaults(handler=_list)

    back = actions.add_parser(
        "rollback",
        help="serve an earlier version again by publishing its files as a new, highest version",
        description="Publish version VERSION's files as a new, highest version (TF Serving serves the highest), "
        "recorded with rollback_of: VERSION. Nothing is deleted; the publish is atomic like a push.",
    )
    common(back)
    back.add_argument("--to", required=True, metavar="VERSION", help="the version to serve again")
    back.set_defaults(handler=_rollback)
