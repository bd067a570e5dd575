"""The bundled demo dataset: a synthetic customer-churn table written as sharded CSV.

The label is learnable but noisy: churn probability is a sigmoid of a linear score (short tenure, many
support calls, high spend, plan, age, a calls x new-customer interaction, and the words of the last support ticket's
subject: "cancel", "refund", "slow" … raise it, "thanks", "upgrade" lower it). Some slices are harder on
purpose: in region ``west`` 25% of labels are flipped, and the ``partner`` signup channel has half the
signal. About 0.5% of rows are malformed (one per block of 200 rows), in four kinds, see
:data:`MALFORMED_KINDS`.

Rows are generated in fixed-size numpy chunks and streamed to disk, so memory does not grow with the
row count. Output is deterministic for a seed, and the first ``n`` rows do not depend on the total row
count or on how the rows are sharded into files.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COLUMNS: tuple[str, ...] = (
    "customer_id",
    "age",
    "income",
    "monthly_spend",
    "tenure_months",
    "support_calls",
    "plan",
    "region",
    "device",
    "hour",
    "signup_channel",
    "notes",
    "ticket_subject",
    "churned",
)
"""The CSV header, in file order (the same names as ``pipelines/configs/demo.yaml``)."""

MALFORMED_KINDS: tuple[str, ...] = ("wrong_column_count", "bad_number", "missing_label", "missing_required")
"""Kinds of deliberately broken rows, as keys of :attr:`DemoDataReport.malformed`."""

PLANS: tuple[str, ...] = ("basic", "standard", "premium", "family", "student")
REGIONS: tuple[str, ...] = ("north", "south", "east", "west", "central")
CHANNELS: tuple[str, ...] = ("web", "store", "partner", "phone")
DEVICES: tuple[str, ...] = (
    "iphone-15", "galaxy-s24", "iphone-14", "pixel-8", "galaxy-a54", "iphone-13", "redmi-note-12",
    "galaxy-s23", "iphone-se", "pixel-7a", "moto-g84", "oneplus-12", "galaxy-a14", "oppo-a78", "redmi-13c",
    "pixel-6", "xperia-10", "realme-11", "nokia-g22", "moto-e13", "oneplus-nord-3", "huawei-p30",
    "ipad-air", "chromebook", "windows-pc",
)  # fmt: skip

# Share of empty cells per column (missing completely at random; required columns never empty).
MISSING_RATES: dict[str, float] = {
    "age": 0.03,
    "income": 0.02,
    "monthly_spend": 0.02,
    "tenure_months": 0.01,
    "support_calls": 0.01,
    "plan": 0.02,
    "device": 0.02,
}

_CHUNK_ROWS = 40_000  # rows simulated per numpy chunk; a multiple of 4 * _BLOCK_ROWS
_BLOCK_ROWS = 200  # exactly one malformed row in each block of this many rows (0.5%)
_WEST_FLIP = 0.25
_PARTNER_SIGNAL = 0.5

_PLAN_SHARE_ADULT = (0.38, 0.30, 0.14, 0.13, 0.05)
_PLAN_SHARE_YOUNG = (0.30, 0.18, 0.05, 0.02, 0.45)  # under 26: many students
_PLAN_BASE_SPEND = np.array([28.0, 49.0, 89.0, 112.0, 18.0])
_PLAN_EFFECT = np.array([0.42, 0.0, -0.42, -0.66, 0.54])
_REGION_SHARE = (0.24, 0.22, 0.20, 0.18, 0.16)
_CHANNEL_SHARE = (0.46, 0.24, 0.18, 0.12)
_DEVICE_SHARE = 1.0 / np.arange(1, len(DEVICES) + 1) ** 0.9
_BUGGY_DEVICES = frozenset({"galaxy-a14", "moto-e13", "huawei-p30", "nokia-g22"})  # their owners call support more
_DEVICE_CALL_FACTOR = np.array([1.6 if d in _BUGGY_DEVICES else 1.0 for d in DEVICES])
_HOUR_SHARE = np.array(
    [2, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 6, 7, 6, 6, 6, 6, 7, 8, 9, 9, 8, 6, 4], dtype=float
)  # more evening signups
_NOTE_SHARE_EMPTY = 0.65
_NOTES: tuple[str, ...] = (
    "asked about family plan",
    "moved, new address on file",
    'said "too expensive", may return',
    "referred by a friend",
    "billing dispute, resolved",
    "prefers email contact",
    "requested callback; no answer",
    "complaint: slow support, 3 calls",
    "promo code WELCOME10 applied",
    "upgraded device, kept number",
    "student discount verified",
    "prefers support in Español",
)
# The last support ticket's subject: "<opening> <topic><ending>", in one of a few casings, or empty (no ticket).
_TICKET_SHARE_EMPTY = 0.35
_TICKET_OPENINGS: tuple[str, ...] = (
    "Cancel my", "Refund for", "Question about", "Help with", "Problem with", "Upgrade", "Thanks for", "Change",
)  # fmt: skip
_TICKET_TOPICS: tuple[str, ...] = (
    "billing", "invoice", "plan", "account", "app", "internet", "router", "password", "payment", "contract",
)  # fmt: skip
_TICKET_ENDINGS: tuple[str, ...] = ("", "!", " again", " - slow", " asap", ", please", "?")
TICKET_WORD_EFFECTS: dict[str, float] = {
    "cancel": 1.2, "refund": 0.8, "slow": 0.6, "problem": 0.4, "again": 0.3, "asap": 0.2, "upgrade": -0.6,
    "thanks": -0.5,
}  # fmt: skip
"""What each word of a ticket subject adds to the churn score (any casing; other words add nothing)."""

# (column, value) pairs used for ``bad_number`` rows: none parses as a finite number.
_BAD_NUMBERS: tuple[tuple[str, str], ...] = (
    ("age", "abc"),
    ("hour", "12h"),
    ("income", "NaN"),
    ("monthly_spend", "12,50"),
    ("tenure_months", "ten"),
    ("support_calls", "many"),
    ("age", "forty"),
    ("income", "$52k"),
)
_NOTE_SPLIT = ("called twice", " wants refund")  # an unquoted comma: one field too many
_INDEX = {name: i for i, name in enumerate(COLUMNS)}


@dataclass(frozen=True)
class DemoDataReport:
    """What :func:`write_demo_data` wrote: the part files, the data row count and malformed rows per kind."""

    files: list[str]
    rows: int
    malformed: dict[str, int]


def _cumulative(shares: Sequence[float] | np.ndarray) -> np.ndarray:
    weights = np.asarray(shares, dtype=float)
    cum = np.cumsum(weights / weights.sum())
    cum[-1] = 1.0
    return cum


_CUM_PLAN_ADULT = _cumulative(_PLAN_SHARE_ADULT)
_CUM_PLAN_YOUNG = _cumulative(_PLAN_SHARE_YOUNG)
_CUM_REGION = _cumulative(_REGION_SHARE)
_CUM_CHANNEL = _cumulative(_CHANNEL_SHARE)
_CUM_DEVICE = _cumulative(_DEVICE_SHARE)
_CUM_HOUR = _cumulative(_HOUR_SHARE)


def ticket_effect(subjects: Sequence[str] | np.ndarray) -> np.ndarray:
    """The ticket subjects' part of the churn score: the sum of :data:`TICKET_WORD_EFFECTS` over each subject's
    distinct words (letters only, any casing), centred so that it is 0 on average over generated rows."""
    return np.array([_words_effect(str(s)) for s in subjects]) - _TICKET_MEAN_EFFECT


def _words_effect(subject: str) -> float:
    words = set("".join(c if c.isalpha() else " " for c in subject.lower()).split())
    return sum(TICKET_WORD_EFFECTS.get(word, 0.0) for word in words)


_OPENING_EFFECT = np.array([_words_effect(o) for o in _TICKET_OPENINGS])
_ENDING_EFFECT = np.array([_words_effect(e) for e in _TICKET_ENDINGS])
_TICKET_MEAN_EFFECT = (1.0 - _TICKET_SHARE_EMPTY) * (_OPENING_EFFECT.mean() + _ENDING_EFFECT.mean())
_CASINGS = (str, str.lower, str.upper)


def _tickets(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    """``n`` ticket subjects and their (centred) effect on the churn score."""
    opening = rng.integers(0, len(_TICKET_OPENINGS), n)
    topic = rng.integers(0, len(_TICKET_TOPICS), n)
    ending = rng.integers(0, len(_TICKET_ENDINGS), n)
    casing = rng.integers(0, len(_CASINGS), n)
    empty = rng.random(n) < _TICKET_SHARE_EMPTY
    parts = zip(opening.tolist(), topic.tolist(), ending.tolist(), casing.tolist(), empty.tolist(), strict=True)
    subjects = [
        "" if e else _CASINGS[c](f"{_TICKET_OPENINGS[o]} {_TICKET_TOPICS[t]}{_TICKET_ENDINGS[d]}")
        for o, t, d, c, e in parts
    ]
    effect = np.where(empty, 0.0, _OPENING_EFFECT[opening] + _ENDING_EFFECT[ending]) - _TICKET_MEAN_EFFECT
    return subjects, effect


def _draw(rng: np.random.Generator, cum: np.ndarray, n: int) -> np.ndarray:
    return np.searchsorted(cum, rng.random(n), side="right")


def _probability(
    age: np.ndarray,
    tenure: np.ndarray,
    calls: np.ndarray,
    spend: np.ndarray,
    plan: np.ndarray,
    region: np.ndarray,
    channel: np.ndarray,
    ticket: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(churn probability before label noise, probability of the written label) from code arrays and the ticket
    subjects' effect."""
    tenure = tenure.astype(float)
    calls = calls.astype(float)
    signal = (
        -1.14 * (np.log1p(tenure) - 2.9)
        + 0.5 * (calls - 1.6)
        + 0.013 * (spend - 55.0)
        + _PLAN_EFFECT[plan]
        - 0.026 * (age - 42.0)
        + 0.42 * calls * (tenure < 12)
        + ticket
    )
    signal = np.where(channel == CHANNELS.index("partner"), _PARTNER_SIGNAL * signal, signal)
    p = 1.0 / (1.0 + np.exp(-(signal - 1.55)))
    west = region == REGIONS.index("west")
    p_label = np.where(west, _WEST_FLIP + (1.0 - 2.0 * _WEST_FLIP) * p, p)
    return p, p_label


def _codes(values: Sequence[str] | np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[v] for v in values], dtype=np.int64)


def churn_probability(
    age: Sequence[float] | np.ndarray,
    tenure_months: Sequence[int] | np.ndarray,
    support_calls: Sequence[int] | np.ndarray,
    monthly_spend: Sequence[float] | np.ndarray,
    plan: Sequence[str] | np.ndarray,
    region: Sequence[str] | np.ndarray,
    signup_channel: Sequence[str] | np.ndarray,
    ticket_subject: Sequence[str] | np.ndarray,
) -> np.ndarray:
    """The true probability that ``churned`` is 1 for rows with these (non-empty) values.

    This is the oracle score the generator draws labels from, including the label noise in ``west``; its AUC
    is the best any model can reach on the demo data.
    """
    _, p_label = _probability(
        np.asarray(age, dtype=float),
        np.asarray(tenure_months, dtype=np.int64),
        np.asarray(support_calls, dtype=np.int64),
        np.asarray(monthly_spend, dtype=float),
        _codes(plan, PLANS),
        _codes(region, REGIONS),
        _codes(signup_channel, CHANNELS),
        ticket_effect(ticket_subject),
    )
    return p_label


def _format(template: str, values: np.ndarray) -> list[str]:
    return list(map(template.format, values.tolist()))


def _chunk_rows(seed: int, chunk: int, keep: int, counts: dict[str, int]) -> list[Sequence[str]]:
    """The first ``keep`` rows of chunk number ``chunk`` as CSV fields; adds malformed rows to ``counts``.

    The whole chunk is always simulated, so a row's values never depend on how many rows are kept.
    """
    rng = np.random.default_rng([seed, chunk])
    n = _CHUNK_ROWS
    age = np.round(18.0 + 72.0 * rng.beta(2.2, 4.0, n), 1)
    plan = np.where(age < 26, _draw(rng, _CUM_PLAN_YOUNG, n), _draw(rng, _CUM_PLAN_ADULT, n))
    region = _draw(rng, _CUM_REGION, n)
    channel = _draw(rng, _CUM_CHANNEL, n)
    device = _draw(rng, _CUM_DEVICE, n)
    hour = _draw(rng, _CUM_HOUR, n)
    income = np.round(rng.lognormal(np.log(46_000.0) + 0.012 * (np.minimum(age, 60.0) - 40.0), 0.55), 2)
    tenure_scale = 14.0 + 24.0 * (age - 18.0) / 72.0
    tenure = np.minimum(rng.gamma(1.2, tenure_scale), 120.0).astype(np.int64)
    spend = _PLAN_BASE_SPEND[plan] * rng.lognormal(0.0, 0.3, n) * (income / 46_000.0) ** 0.15
    spend = np.round(np.where(rng.random(n) < 0.03, 0.0, spend), 2)
    call_rate = 0.9 * _DEVICE_CALL_FACTOR[device] * rng.gamma(2.0, 0.5, n) * np.where(tenure < 6, 1.5, 1.0)
    calls = rng.poisson(call_rate)
    note = np.where(rng.random(n) < _NOTE_SHARE_EMPTY, -1, rng.integers(0, len(_NOTES), n))
    # The tickets draw from their own stream, so every other column is what it was before they existed.
    tickets, ticket = _tickets(np.random.default_rng([seed, chunk, 1]), n)
    p, _ = _probability(age, tenure, calls, spend, plan, region, channel, ticket)
    flip = (region == REGIONS.index("west")) & (rng.random(n) < _WEST_FLIP)
    churned = ((rng.random(n) < p) ^ flip).astype(np.int64)
    missing = {column: rng.random(n) < rate for column, rate in MISSING_RATES.items()}
    blocks = n // _BLOCK_ROWS
    bad_rows = np.arange(blocks) * _BLOCK_ROWS + rng.integers(0, _BLOCK_ROWS, blocks)
    kinds = rng.permuted(np.tile(np.arange(len(MALFORMED_KINDS)), (blocks // len(MALFORMED_KINDS), 1)), axis=1)
    variants = rng.integers(0, 1 << 30, blocks)

    s = slice(0, keep)
    names = {"plan": np.array(PLANS, dtype=object), "device": np.array(DEVICES, dtype=object)}
    cells: dict[str, list[str]] = {
        "customer_id": [f"C{i:07d}" for i in range(chunk * n + 1, chunk * n + keep + 1)],
        "age": _format("{:.1f}", age[s]),
        "income": _format("{:.2f}", income[s]),
        "monthly_spend": _format("{:.2f}", spend[s]),
        "tenure_months": list(map(str, tenure[s].tolist())),
        "support_calls": list(map(str, calls[s].tolist())),
        "plan": names["plan"][plan[s]].tolist(),
        "region": np.array(REGIONS, dtype=object)[region[s]].tolist(),
        "device": names["device"][device[s]].tolist(),
        "hour": list(map(str, hour[s].tolist())),
        "signup_channel": np.array(CHANNELS, dtype=object)[channel[s]].tolist(),
        "notes": np.array(("", *_NOTES), dtype=object)[note[s] + 1].tolist(),
        "ticket_subject": tickets[:keep],
        "churned": list(map(str, churned[s].tolist())),
    }
    for column, mask in missing.items():
        column_cells = cells[column]
        for i in np.flatnonzero(mask[s]).tolist():
            column_cells[i] = ""
    rows: list[Sequence[str]] = list(zip(*(cells[c] for c in COLUMNS), strict=True))

    for row_index, kind_code, variant in zip(bad_rows.tolist(), kinds.ravel().tolist(), variants.tolist(), strict=True):
        if row_index >= keep:
            continue
        kind = MALFORMED_KINDS[kind_code]
        fields = list(rows[row_index])
        if kind == "wrong_column_count":
            if variant % 2:
                del fields[1 + (variant // 2) % (len(COLUMNS) - 1)]
            else:
                fields[_INDEX["notes"] : _INDEX["notes"] + 1] = _NOTE_SPLIT
        elif kind == "bad_number":
            column, value = _BAD_NUMBERS[variant % len(_BAD_NUMBERS)]
            fields[_INDEX[column]] = value
        elif kind == "missing_label":
            fields[_INDEX["churned"]] = ""
        else:
            fields[_INDEX["region"]] = ""
        rows[row_index] = fields
        counts[kind] += 1
    return rows


def write_demo_data(
    output_dir: str | Path, rows: int = 20_000, seed: int = 7, rows_per_file: int = 250_000
) -> DemoDataReport:
    """Write ``rows`` demo rows as ``part-00000.csv``, ``part-00001.csv``, ... (each with a header) into ``output_dir``.

    Existing ``part-*.csv`` files there are removed first. The bytes written depend only on ``seed``, ``rows``
    and ``rows_per_file``. Raises ValueError when ``rows`` or ``rows_per_file`` is below 1 or ``seed`` is negative.
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    if rows_per_file < 1:
        raise ValueError(f"rows_per_file must be at least 1, got {rows_per_file}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in sorted(out.glob("part-*.csv")):
        stale.unlink()

    counts = dict.fromkeys(MALFORMED_KINDS, 0)
    files: list[str] = []
    handle = None
    writer = None
    room = 0  # rows the open file can still take
    try:
        for chunk in range(-(-rows // _CHUNK_ROWS)):
            keep = min(_CHUNK_ROWS, rows - chunk * _CHUNK_ROWS)
            chunk_rows = _chunk_rows(seed, chunk, keep, counts)
            start = 0
            while start < keep:
                if room == 0:
                    if handle is not None:
                        handle.close()
                    path = out / f"part-{len(files):05d}.csv"
                    handle = path.open("w", newline="", encoding="utf-8")
                    writer = csv.writer(handle, lineterminator="\n")
                    writer.writerow(COLUMNS)
                    files.append(str(path))
                    room = rows_per_file
                assert writer is not None
                take = min(room, keep - start)
                writer.writerows(chunk_rows[start : start + take])
                start += take
                room -= take
    finally:
        if handle is not None:
            handle.close()
    return DemoDataReport(files=files, rows=rows, malformed=counts)
