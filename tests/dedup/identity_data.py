"""A seeded chat set with every kind of duplicate, for the "pure speed" identity tests.

Exact copies (re-cased, re-spaced), near copies (a word or two changed), sentence-shuffled
copies (semantic only: same words, other shingles), templates filled with other names and
numbers (the slot guard's case), multi-turn rows and rows with tools. The digests in
``test_identity.py`` were computed from this set on the code before the speed work (2009b00).
"""

from __future__ import annotations

import hashlib
import random

import orjson

from curate.records import Record
from tests.dedup.dedup_data import WORDS, chat

NAMES = ["Ingrid Berg", "Tomas Ruiz", "Aiko Mori", "Lena Vogel", "Omar Haddad", "Priya Nair"]
CITIES = ["Seville", "Oslo", "Kyoto", "Lima", "Tunis", "Perth"]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _text(rng: random.Random, sentences: int) -> str:
    return " ".join(_sentence(rng, rng.randint(6, 12)) for _ in range(sentences))


def identity_rows(n: int = 480, seed: int = 7) -> list[dict]:
    """``n`` chat rows (deterministic for a seed) with planted duplicates of each kind."""
    rng = random.Random(seed)
    rows: list[dict] = []
    while len(rows) < n:
        kind = rng.random()
        if rows and kind < 0.10:  # exact after normalisation
            src = rng.choice(rows)
            msgs = [dict(m, content=m["content"].upper() + "  ") for m in src["messages"]]
            rows.append({**src, "messages": msgs})
        elif rows and kind < 0.22:  # near: one or two words changed
            src = rng.choice(rows)
            msgs = []
            for m in src["messages"]:
                words = m["content"].split()
                if m["role"] == "assistant" and len(words) > 8:
                    for _ in range(rng.randint(1, 2)):
                        words[rng.randrange(len(words))] = rng.choice(WORDS)
                msgs.append(dict(m, content=" ".join(words)))
            rows.append({**src, "messages": msgs})
        elif rows and kind < 0.30:  # sentences shuffled: same words, other shingles
            src = rng.choice(rows)
            msgs = []
            for m in src["messages"]:
                parts = m["content"].split(". ")
                rng.shuffle(parts)
                msgs.append(dict(m, content=". ".join(parts)))
            rows.append({**src, "messages": msgs})
        elif kind < 0.40:  # a template filled with other values
            who, city = rng.choice(NAMES), rng.choice(CITIES)
            amount = rng.randint(100, 99_999)
            rows.append(
                chat(
                    f"Extract the person, city and amount from: {who} paid ${amount:,} in "
                    f"{city} for the annual lease.",
                    f"Person: {who}. City: {city}. Amount: ${amount:,}.",
                    category="extract",
                )
            )
        elif kind < 0.47:  # multi-turn
            rows.append(
                {
                    "messages": [
                        {"role": "system", "content": "You are terse."},
                        {"role": "user", "content": _text(rng, 2)},
                        {"role": "assistant", "content": _text(rng, 3)},
                        {"role": "user", "content": _text(rng, 1)},
                        {"role": "assistant", "content": _text(rng, 2)},
                    ],
                    "category": "dialogue",
                }
            )
        elif kind < 0.52:  # with tools
            rows.append(
                {
                    **chat(_text(rng, 2), _text(rng, 3), category="tools"),
                    "tools": [
                        {
                            "type": "function",
                            "function": {"name": rng.choice(WORDS), "parameters": {}},
                        }
                    ],
                }
            )
        else:
            rows.append(
                chat(_text(rng, rng.randint(1, 3)), _text(rng, rng.randint(2, 6)), category="qa")
            )
    return rows


def identity_records(n: int = 480, seed: int = 7) -> list[Record]:
    return [Record("identity.jsonl", i, row, i) for i, row in enumerate(identity_rows(n, seed), 1)]


def digest_of(obj: object) -> str:
    """A short, stable digest of any JSON-ready value."""
    raw = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()[:16]
