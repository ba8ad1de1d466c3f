"""Records keep one copy of their repeated short values (roles, categories): a run holds every
record until it writes, so each copy a parser made is memory held to the end (issue 15)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from curate.records import SHARED_MAX_CHARS, SHARED_MAX_VALUES, Record, RecordReader

LONG = "x" * (SHARED_MAX_CHARS + 1)


def _rows(n: int) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": f"question {i} " + "words " * 40},
                {"role": "assistant", "content": f"answer {i} " + "words " * 60, "name": "bot"},
            ],
            "category": ["writing", "math", "coding"][i % 3],
            "id": i,
            "tags": ["a", {"k": "v"}, 3],
            "note": LONG,
        }
        for i in range(n)
    ]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _records(path: Path) -> list[Record]:
    got = [r for r in RecordReader(path) if isinstance(r, Record)]
    assert len(got) > 0
    return got


def test_values_are_unchanged_and_short_ones_shared(tmp_path: Path) -> None:
    rows = _rows(30)
    recs = _records(_write(tmp_path / "d.jsonl", rows))
    assert [r.data for r in recs] == rows  # equal values, same key order
    assert [list(r.data) for r in recs] == [list(r) for r in rows]
    roles = [m["role"] for r in recs for m in r.data["messages"]]
    assert len({id(s) for s in roles}) == 3  # one object per distinct role
    assert len({id(r.data["category"]) for r in recs}) == 3
    # Long values and content are the parser's own strings, one per record.
    assert len({id(r.data["note"]) for r in recs}) == len(recs)
    assert len({id(r.data["messages"][1]["content"]) for r in recs}) == len(recs)


def test_json_array_and_parquet_records_share_too(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k in ("messages", "category")} for r in _rows(6)]
    arr = tmp_path / "d.json"
    arr.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    pq_path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(rows), pq_path)
    for path in (arr, pq_path):
        recs = _records(path)
        assert [r.data for r in recs] == rows
        assert len({id(m["role"]) for r in recs for m in r.data["messages"]}) == 3


def test_read_records_hold_less_than_plain_parses(tmp_path: Path) -> None:
    """Fails on 3202ffb, whose records held a parser's copy of every role and category."""
    path = _write(tmp_path / "d.jsonl", _rows(2000))
    lines = path.read_bytes().splitlines()

    def traced(make) -> int:
        tracemalloc.start()
        try:
            held = make()
            size = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert held
        return size

    plain = traced(lambda: [orjson.loads(line) for line in lines])
    read = traced(lambda: _records(path))
    # Per row: 3 roles and a category (~55 bytes each as their own strings); the
    # Record objects (~72 bytes a row) are extra on the read side.
    assert read < plain - 2000 * 120, (read / 2000, plain / 2000)


def test_lists_that_do_not_start_with_an_object_are_not_walked(tmp_path: Path) -> None:
    """Pre-tokenized rows (``input_ids``: thousands of integers) cost a type check per item
    when every top-level list was walked (+93..126% read time at 1c5f6b0). Only a list whose
    first item is an object (the messages) is: an object after an integer keeps its copy."""
    rows = [
        {
            "input_ids": list(range(2048)),
            "mixed": [7, {"role": "user"}],
            "messages": [{"role": "user", "content": "hi"}],
        }
        for _ in range(5)
    ]
    recs = _records(_write(tmp_path / "d.jsonl", rows))
    assert [r.data for r in recs] == rows
    assert len({id(r.data["mixed"][1]["role"]) for r in recs}) == len(recs)  # not walked
    assert len({id(r.data["messages"][0]["role"]) for r in recs}) == 1  # walked


def test_values_that_never_repeat_do_not_starve_the_ones_that_do(tmp_path: Path) -> None:
    """At 1c5f6b0 one table of 4,096 values served the whole process, first come first
    served: unique short ids filled it, and a role or category first seen after them (or
    in the next file) kept a copy per record."""
    first = [{"id": f"r{i}", "messages": [{"role": "user", "content": "q"}]} for i in range(9000)]
    late = [
        {"id": f"s{i}", "category": "late", "messages": [{"role": "tool", "content": "t"}]}
        for i in range(50)
    ]
    reader = RecordReader(_write(tmp_path / "a.jsonl", first + late))
    recs = [r for r in reader if isinstance(r, Record)]
    tail = recs[-50:]
    assert len({id(r.data["category"]) for r in tail}) == 1
    assert len({id(r.data["messages"][0]["role"]) for r in tail}) == 1
    assert len({id(r.data["id"]) for r in recs}) == len(recs)  # each id its own string
    assert set(reader.strings.kept) == {"user", "late", "tool"}
    assert len(reader.strings.seen_once) <= SHARED_MAX_VALUES
    # A second file's reader has a table of its own (the first one's is untouched).
    again = _records(_write(tmp_path / "b.jsonl", late))
    assert len({id(r.data["category"]) for r in again}) == 1
    assert set(reader.strings.kept) == {"user", "late", "tool"}
