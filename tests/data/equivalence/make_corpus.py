"""Write the equivalence corpus: ``a.csv`` and ``b.csv`` beside this file (checked in; rerun only on purpose).

    python tests/data/equivalence/make_corpus.py

About 480 data rows for ``columns.json``: mostly clean, seeded-random rows, plus hand-written rows at fixed
places that hit every cleaning rule and quarantine reason of the data path as it was before the columnar
rewrite. After changing the corpus, regenerate ``expected.json`` with ``make_expected.py`` (it runs the
*old* code) — never from the code under test.

Deliberately absent (their handling is being changed on purpose): quoted fields containing a newline, a
UTF-8 byte-order mark, bytes that are not UTF-8, unterminated or mid-field quotes. Only ``\\n`` line ends.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = list(json.loads((HERE / "columns.json").read_text()))
SEED = 20_241_129


def _quote(text: str) -> str:
    """CSV text of one cell: quoted only when it must be."""
    if "," in text or '"' in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _maybe(rng: random.Random, text: str, p_empty: float) -> str:
    return "" if rng.random() < p_empty else text


def clean_cells(rng: random.Random, n: int) -> dict[str, str]:
    """The raw text of every cell of one ordinary row (already CSV-quoted where needed)."""
    f_z = rng.gauss(50.0, 12.0)
    cells = {
        "id": f"r{n:04d}",
        "row_num": str(n),
        "f_z": _maybe(rng, f"{f_z:.3f}", 0.08),
        "f_s01": _maybe(rng, str(rng.randint(0, 100)), 0.08),
        "f_log": _maybe(
            rng,
            rng.choice(["0", "-3.5", f"{rng.lognormvariate(2.0, 1.2):.2f}"])
            if rng.random() < 0.1
            else f"{rng.lognormvariate(2.0, 1.2):.2f}",
            0.08,
        ),
        "f_bkt": _maybe(rng, "2.5" if rng.random() < 0.25 else f"{rng.uniform(0, 10):.1f}", 0.08),
        "f_id": _maybe(rng, f"{rng.uniform(-100, 100):.4f}", 0.08),
        "i_mean": _maybe(rng, str(rng.randint(0, 20)), 0.08),
        "i_hash": _maybe(rng, str(rng.choice([3, 7, 7, 7, 11, 42, 42])), 0.08),
        "i_vocab": str(rng.choices([1, 2, 3, 4, 5, 6, 7, 8], weights=[30, 25, 20, 12, 6, 4, 2, 1])[0]),
        "s_vocab": _maybe(
            rng,
            rng.choices(["red", "green", "blue", "yellow", "black", "white"], weights=[30, 25, 20, 10, 10, 5])[0],
            0.08,
        ),
        "s_minf": _maybe(
            rng,
            _quote(
                rng.choices(
                    ["alpha", "beta", "gamma, delta", "epsilon", "zeta", "Zürich", "東京", 'say "hi"'],
                    weights=[40, 30, 10, 8, 4, 3, 3, 2],
                )[0]
            ),
            0.08,
        ),
        "s_hash": f"h{rng.randint(0, 50)}",
        "city": _maybe(rng, _quote(rng.choice(["Portland, OR", "Austin, TX", "Berlin", "São Paulo", "Lagos"])), 0.05),
        "segment": _maybe(rng, rng.choice(["a", "b", "c"]), 0.10),
        "tier": str(rng.randint(1, 3)),
        "comment": _maybe(rng, _quote(rng.choice(["ok", "call back, later", "NaN", "see: notes", 'said "no"'])), 0.3),
        "junk_num": _maybe(rng, rng.choice(["1.5", "n/a", "inf", "-", "3"]), 0.3),
        "label": str(int(f_z + rng.gauss(0, 8) > 52)),
    }
    assert list(cells) == COLUMNS
    return cells


def line(cells: dict[str, str]) -> str:
    return ",".join(cells[name] for name in COLUMNS)


# Hand-written rows: (description, changes to an ordinary row's cells as raw CSV text, or a whole raw line).
# Clean edge cases first, then one or more rows per quarantine reason.
CLEAN_EDGES: list[tuple[str, dict[str, str]]] = [
    ("spaces around numbers are stripped", {"f_z": " 4.5 ", "i_mean": " 7 ", "label": " 1 "}),
    ("exponent, signs, leading zeros", {"f_z": "1e-3", "f_id": "-0.0", "f_log": "+2", "i_mean": "007"}),
    ("more signs", {"i_mean": "+3", "f_s01": "-0", "f_bkt": "1E1"}),
    ("quoted numbers", {"f_s01": '"42"', "f_z": '"61.25"'}),
    ("whitespace-only numeric cells are missing and imputed", {"f_z": "   ", "i_mean": " ", "f_bkt": "  "}),
    ("quoted empty string cells are missing and imputed", {"s_vocab": '""', "s_minf": '""', "city": '""'}),
    (
        "every imputable cell empty at once",
        {
            c: ""
            for c in (
                "f_z",
                "f_s01",
                "f_log",
                "f_bkt",
                "f_id",
                "i_mean",
                "i_hash",
                "s_vocab",
                "s_minf",
                "city",
                "segment",
            )
        },
    ),
    (
        "strings are not parsed: NaN, spaces, quotes, commas, non-ASCII",
        {"s_minf": "NaN", "s_vocab": " red", "city": '"Portland, OR"', "s_hash": '"a ""b"", c"'},
    ),
    ("more string edges", {"s_minf": " alpha", "s_vocab": "RED", "s_hash": "東京"}),
    ("ignored columns are never parsed", {"junk_num": "not a number", "comment": '"x, y, z"'}),
    ("ignored float holds NaN text", {"junk_num": "NaN", "comment": ""}),
    ("slice fill and negative log input", {"segment": "", "f_log": "-7.25", "label": "0"}),
    ("zero for the log and scale columns", {"f_log": "0", "f_s01": "0", "label": "1"}),
]

QUARANTINED: list[tuple[str, dict[str, str] | str]] = [
    ("wrong_column_count: too few fields", "RAW:{id},1,2,3"),
    ("wrong_column_count: one field too many (trailing comma)", "RAW_APPEND:,"),
    ("wrong_column_count: unquoted comma inside a string", {"city": "Portland, OR"}),
    ("wrong_column_count: a line with just the key", "RAW:{id}"),
    ("bad_number: text in a float", {"f_z": "abc"}),
    ("bad_number: NaN text", {"f_z": "NaN"}),
    ("bad_number: nan text, lower case", {"f_id": "nan"}),
    ("bad_number: inf text", {"f_log": "inf"}),
    ("bad_number: -Infinity text", {"f_bkt": "-Infinity"}),
    ("bad_number: +Infinity in an imputed float", {"f_z": "+Infinity"}),
    ("bad_number: overflow to inf", {"f_id": "1e999"}),
    ("bad_number: decimal in an int", {"i_mean": "1.5"}),
    ("bad_number: exponent in an int", {"f_s01": "1e3"}),
    ("bad_number: hex in an int", {"i_hash": "0x10"}),
    ("bad_number: word in an int slice", {"tier": "two"}),
    ("bad_number: trailing text in the identity int", {"row_num": "12abc"}),
    ("bad_number: comma decimal (quoted)", {"f_z": '"1,5"'}),
    ("bad_number: label is a word", {"label": "yes"}),
    ("bad_number: label 1.0 in an int label", {"label": "1.0"}),
    ("bad_label: 2", {"label": "2"}),
    ("bad_label: -1", {"label": "-1"}),
    ("missing_label: empty", {"label": ""}),
    ("missing_label: whitespace only", {"label": "  "}),
    ("missing_required: identity int", {"row_num": ""}),
    ("missing_required: string hash (empty)", {"s_hash": ""}),
    ("missing_required: string hash (quoted empty)", {"s_hash": '""'}),
    ("missing_required: int slice", {"tier": ""}),
    ("missing_required: int vocabulary, whitespace only", {"i_vocab": "   "}),
    ("several: bad number, missing required, bad label", {"f_z": "abc", "s_hash": "", "label": "3"}),
    (
        "several: missing required before bad number, missing label",
        {"row_num": "", "f_log": "NaN", "label": "", "junk_num": "oops"},
    ),
    ("several: every cell but the key empty", "RAW:{id}" + "," * 18),
    ("several: bad numbers in two columns and a bad label", {"i_hash": "7.0", "tier": "-", "label": "5"}),
]


def _special(rng: random.Random, n: int, change: dict[str, str] | str) -> str:
    cells = clean_cells(rng, n)
    if isinstance(change, str):
        if change.startswith("RAW_APPEND:"):
            return line(cells) + change.removeprefix("RAW_APPEND:")
        return change.removeprefix("RAW:").format(id=cells["id"])
    cells.update(change)
    return line(cells)


def build() -> dict[str, str]:
    """The text of a.csv and b.csv."""
    rng = random.Random(SEED)
    header = ",".join(COLUMNS)
    specials = [change for _, change in CLEAN_EDGES] + [change for _, change in QUARANTINED]
    total = 480
    # Spread the hand-written rows evenly through both files.
    at = {round(5 + i * (total - 10) / len(specials)): change for i, change in enumerate(specials)}
    assert len(at) == len(specials)
    lines = [_special(rng, n, at[n]) if n in at else line(clean_cells(rng, n)) for n in range(1, total + 1)]
    a_rows, b_rows = lines[:250], lines[250:]
    a_rows.insert(100, "")  # a blank line is skipped, not a row
    return {
        "a.csv": "\n".join([header, *a_rows]) + "\n",
        "b.csv": "\n".join([header, *b_rows]),  # no newline at the end of the last line
    }


def main() -> None:
    for name, text in build().items():
        (HERE / name).write_text(text, encoding="utf-8", newline="")


if __name__ == "__main__":
    main()
