"""Packed records (``records.pack``): ``curate run`` with semantic on holds each record as its
orjson bytes and parses it again where a stage reads it; nothing it writes changes."""

from __future__ import annotations

import datetime
import json
import math
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from curate.audit.diversity import label_balance
from curate.audit.run import is_chat, record_is_chat
from curate.dedup import features as feat
from curate.dedup.semantic import outcome_file
from curate.pipeline import load_run_config, run_pipeline
from curate.pipeline import run as run_mod
from curate.records import Record, RecordReader, dumps_line, pack, record_line, top_level_string
from curate.split import SplitConfig, SplitResult
from curate.split.output import write_splits
from curate.split.strata import field_value, record_field
from tests.dedup.identity_data import identity_rows

PLAIN = [
    {"messages": [{"role": "user", "content": "hi é \u2028 \U0001f600"}], "n": 2**64 - 1},
    {"messages": [], "x": [1.5, -0.0, 1e300, None, True, False, -(2**63)], "y": {"z": {}}},
    {"category": "a", "messages": [{"role": "assistant", "content": "x" * 2000}]},
    {"messages": ["not an object"], "id": 7},
    {},
]


def test_a_packed_record_parses_back_to_an_equal_object_each_time() -> None:
    for i, data in enumerate(PLAIN):
        record = Record("f.jsonl", i + 1, data, i + 1)
        before = orjson.dumps(data)
        assert pack(record)
        assert record.packed == before
        assert record.data == data and record.data is not data  # parsed anew, never kept
        assert record.data is not record.data
        assert record == Record("f.jsonl", i + 1, data, i + 1)
        assert record.ref == f"f.jsonl:{i + 1}"
        assert record.id == (str(data["id"]) if "id" in data else record.ref)
        # What a writer gets: the same bytes as the parsed object's line.
        assert record_line(record) == dumps_line(data)
        assert pack(record)  # packing again: a no-op
        assert record.packed == before


def test_records_that_would_not_read_back_as_themselves_stay_parsed() -> None:
    class Label(str):
        pass

    odd: list[Any] = [
        {"messages": (1, 2)},  # a tuple would come back a list
        {"score": math.nan},  # orjson writes null
        {"score": math.inf},
        {"n": 2**64},  # past what orjson writes
        {"n": -(2**63) - 1},
        {1: "int key"},
        {"when": datetime.date(2024, 1, 2)},  # Parquet / HF datasets values
        {"v": np.float32(1.5)},
        {"v": np.int64(3)},
        {"s": Label("a str subclass")},
        {"s": "lone \ud800 surrogate"},
        {"b": b"bytes"},
    ]
    for data in odd:
        record = Record("f.parquet", 1, data, 1)
        assert not pack(record), data
        assert record.packed is None
        assert record.data is data  # the very object, untouched


def test_records_read_from_json_text_pack_without_the_walk(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    rows = [*PLAIN, *identity_rows(50)]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    records = [r for r in RecordReader(path) if isinstance(r, Record)]
    assert len(records) == len(rows)
    for record, row in zip(records, rows, strict=True):
        assert pack(record, from_json_text=True)
        assert record.data == row
        assert record.packed == orjson.dumps(row)


def test_packed_records_hold_well_under_half_of_the_parsed_ones() -> None:
    rows = identity_rows(2000)
    tracemalloc.start()
    try:
        parsed = [Record("f", i, orjson.loads(orjson.dumps(r)), i) for i, r in enumerate(rows)]
        held_parsed = tracemalloc.get_traced_memory()[0]
        for r in parsed:
            pack(r, from_json_text=True)
        held_packed = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held_packed < 0.6 * held_parsed, (held_packed, held_parsed)


def test_record_is_chat_equals_is_chat_of_the_data() -> None:
    cases: list[Any] = [
        *PLAIN,
        {"messages": [{"role": "user"}], "category": "a"},
        {"category": "a", "messages": [{"role": "user"}]},  # not first: parsed, still chat
        {"messages": [[{"role": "user"}]]},
        {"messages": "text"},
        {"messages": {"role": "user"}},
        {"conversations": [{"from": "human", "value": "hi"}]},
        {"text": '{"messages":[{'},
    ]
    for data in cases:
        record = Record("f", 1, data, 1)
        expected = is_chat(data)
        assert record_is_chat(record) == expected
        pack(record)
        assert record.packed is not None
        assert record_is_chat(record) == expected, data


def test_hashing_chunks_and_outcome_digest_are_the_same_for_packed_records() -> None:
    rows = identity_rows(40)
    rows_at = list(enumerate(rows))
    parsed = [Record("f.jsonl", i + 1, r, i + 1) for i, r in rows_at]
    packed = [Record("f.jsonl", i + 1, orjson.loads(orjson.dumps(r)), i + 1) for i, r in rows_at]
    for r in packed[::2]:  # a chunk with both kinds, as the reading phase sends
        pack(r)
    assert feat._encode(packed) == feat._encode(parsed)
    assert feat._decode(feat._encode(packed)) == parsed
    settings = ("fast", 0.9)
    assert outcome_file("cache", settings, packed) == outcome_file("cache", settings, parsed)


def test_written_splits_are_the_same_bytes(tmp_path: Path) -> None:
    rows = identity_rows(30)
    mk = lambda: [Record("f", i + 1, dict(r), i + 1) for i, r in enumerate(rows)]  # noqa: E731
    plain, packed = mk(), mk()
    for r in packed[1::3]:
        pack(r)
    for name, records in (("plain", plain), ("packed", packed)):
        splits = {"train": records[:20], "test": records[20:]}
        result = SplitResult(splits=splits, strata=[], leakage={}, config=SplitConfig())
        write_splits(result, tmp_path / name, parquet=True, report=False)
    for f in ("train.jsonl", "test.jsonl"):
        assert (tmp_path / "plain" / f).read_bytes() == (tmp_path / "packed" / f).read_bytes()
    import pyarrow.parquet as pq

    for f in ("train.parquet", "test.parquet"):
        a, b = pq.read_table(tmp_path / "plain" / f), pq.read_table(tmp_path / "packed" / f)
        assert a.equals(b)


def _run(tmp_path: Path, data: Path, name: str) -> dict[str, bytes]:
    cfg = tmp_path / "curate.yaml"
    cfg.write_text(
        "run:\n  semantic: true\n  workers: 2\n"
        "dedup:\n  methods: [exact, near, semantic]\n"
        "audit:\n  language_sample: 10\n  label: category\n"
        "split:\n  test_size: 0.2\n  stratify: [category]\n"
    )
    out = tmp_path / name
    run_pipeline(str(data), out, load_run_config(str(cfg)))
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))}
    for doc_name in ("report.json", "manifest.json"):
        doc = json.loads(files[doc_name])
        doc.get("audit", {}).pop("timings", None)
        files[doc_name] = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    return files


def test_a_run_with_packed_records_writes_what_one_without_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lowered thresholds: the records go through the hashing workers, a chunk at a time, as
    # packed records (``_encode``'s fragments) and parsed ones (the last of each chunk).
    monkeypatch.setattr(feat, "PARALLEL_MIN", 10)
    monkeypatch.setattr(feat, "PARALLEL_CHUNK", 37)
    rows = identity_rows(300)
    for i, r in enumerate(rows):
        r["category"] = "abc"[i % 3]
    data = tmp_path / "data.jsonl"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))

    packed_seen: list[bool] = []
    real_pack = run_mod.pack

    def counting(record: Record, from_json_text: bool = False) -> bool:
        packed_seen.append(real_pack(record, from_json_text))
        return packed_seen[-1]

    monkeypatch.setattr(run_mod, "pack", counting)
    with_packing = _run(tmp_path, data, "packed")
    assert packed_seen and all(packed_seen)  # every record was held packed
    monkeypatch.setattr(run_mod, "pack", lambda record, from_json_text=False: False)
    without = _run(tmp_path, data, "parsed")
    assert with_packing.keys() == without.keys() and "train.jsonl" in without
    for name in without:
        assert with_packing[name] == without[name], name


FIELD_CASES: list[Any] = [
    {"messages": [], "category": "brainstorming"},
    {"category": "a", "x": 1},
    {"x": {"category": "b"}},
    {"a": 'q","category":"z'},
    {"category": "é漢"},
    {"category": "a\\b"},
    {"category": 'a"b'},
    {"category": ""},
    {"xcategory": "a"},
    {"category": 1},
    {"category": None},
    {"category": ["a"]},
    {"messages": [{"category": "in"}], "k": "v"},
    {"k": "\\", "category": "c"},
    {'cat"egory': "x"},
    {"category": "a\nb"},
    ["category", "a"],
]


def test_a_top_level_string_field_is_the_parsed_records_value() -> None:
    for data in FIELD_CASES:
        plain = data.get("category") if isinstance(data, dict) else None
        expected = plain if isinstance(plain, str) else None
        record = Record("f", 1, data, 1)
        assert top_level_string(record, "category") == expected
        assert record_field(record, "category") == field_value(data, "category")
        assert pack(record)
        assert top_level_string(record, "category") == expected, data
        assert record_field(record, "category") == field_value(data, "category"), data
        assert label_balance([record], "category") == label_balance(
            [Record("f", 1, data, 1)], "category"
        )


def test_the_last_string_member_is_read_without_parsing() -> None:
    # Bytes no parser accepts: only the shortcut can answer.
    record = Record("f", 1, {}, 1, packed=b'{"messages":[?],"category":"chat"}')
    object.__delattr__(record, "data")
    assert top_level_string(record, "category") == "chat"
    assert record_field(record, "category") == "chat"
    with pytest.raises(orjson.JSONDecodeError):
        top_level_string(record, "messages")  # not the last member: parsed
