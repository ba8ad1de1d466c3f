"""Pipeline fixtures: a file with every kind of bad row, a larger file for kill tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CURATE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "curate"


def chat(user: str, answer: str, **extra) -> dict:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
        **extra,
    }


TOPICS = [
    "budget",
    "garden",
    "compiler",
    "lecture",
    "invoice",
    "server",
    "recipe",
    "poster",
    "sprint",
    "ledger",
    "router",
    "survey",
]
VERBS = ["plan", "debug", "summarize", "review", "organize", "explain", "draft", "measure"]


def good_rows(n: int) -> list[dict]:
    """Distinct, plausible conversations with a category label (no two near each other)."""
    rows = []
    for i in range(n):
        topic, verb = TOPICS[i % len(TOPICS)], VERBS[(i // len(TOPICS)) % len(VERBS)]
        rows.append(
            chat(
                f"Request {i}: how should I {verb} the {topic} for team {i * 7 % 101}?",
                f"Answer {i}: start by listing what the {topic} needs, then {verb} it in "
                f"{i % 5 + 2} short steps, checking item {i * 13 % 97} twice.",
                category=["alpha", "beta", "gamma"][i % 3],
            )
        )
    return rows


# Each bad line with the reject reason `curate run` must give it (plus a first line with no
# known shape: unknown_format).
BAD_LINES: list[tuple[bytes, str]] = [
    (b"{not json", "json_decode"),
    (b'{"messages": "\xff\xfe"}', "invalid_utf8"),
    (b"[1, 2, 3]", "not_an_object"),
    (b"[" * 1100 + b"]" * 1100, "too_deep"),
    (json.dumps({"conversations": [{"from": "alien", "value": "x"}]}).encode(), "conversion_error"),
    (
        json.dumps({"messages": [{"role": "user", "content": "only a question"}]}).encode(),
        "VALIDATE",
    ),
    (json.dumps(chat("long " * 10, "word " * 6000)).encode(), "too_many_tokens"),
    (json.dumps(chat("hi", "")).encode(), "VALIDATE_OR_FILTER"),
]


@pytest.fixture()
def messy_file(tmp_path: Path) -> tuple[Path, int]:
    """40 good rows, an exact and a near duplicate, one of each bad kind, blank lines.

    Returns the path and the number of non-blank lines.
    """
    rows = good_rows(40)
    # First line: no known shape yet -> unknown_format (later ones must fit the file's format).
    lines = [json.dumps({"text": "no known shape"}).encode()]
    lines += [json.dumps(r).encode() for r in rows]
    lines.append(lines[3])  # exact duplicate
    near = json.loads(lines[6])
    near["messages"][1]["content"] += " Thanks."  # one word more: 5-gram Jaccard ~0.96
    lines.append(json.dumps(near).encode())
    lines.extend(raw for raw, _ in BAD_LINES)
    body = b"\n".join(lines[:20]) + b"\n\n   \n" + b"\n".join(lines[20:]) + b"\n"
    path = tmp_path / "messy.jsonl"
    path.write_bytes(body)
    return path, len(lines)


@pytest.fixture(scope="session")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough rows that a --no-semantic run lasts a couple of seconds (for the kill test)."""
    path = tmp_path_factory.mktemp("big") / "big.jsonl"
    with open(path, "w") as fh:
        for row in good_rows(1500):
            fh.write(json.dumps(row) + "\n")
    return path
