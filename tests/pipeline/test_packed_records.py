"""Packed records (``records.pack``): ``curate run`` with semantic on holds each record as its
orjson bytes and parses it again where a stage reads it; nothing it writes changes."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
import math
import pickle
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from curate import records as records_mod
from curate.audit.diversity import label_balance
from curate.audit.run import is_chat, record_is_chat
from curate.dedup import features as feat
from curate.dedup.semantic import outcome_file
from curate.pipeline import load_run_config, run_pipeline
from curate.pipeline import run as run_mod
from curate.records import (
    Record,
    RecordReader,
    dumps_line,
    last_string_member,
    pack,
    read_as_json_text,
    record_line,
)
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


def test_records_read_from_json_text_pack_without_the_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rows.jsonl"
    rows = [*PLAIN, *identity_rows(50)]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    records = [r for r in RecordReader(path) if isinstance(r, Record)]
    assert len(records) == len(rows)

    def no_walk(value: Any) -> bool:
        raise AssertionError("the type walk ran for a record read from JSON text")

    monkeypatch.setattr(records_mod, "_plain_json", no_walk)
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


def _run(tmp_path: Path, data: Path, name: str, parquet: bool = False) -> dict[str, bytes]:
    cfg = tmp_path / "curate.yaml"
    cfg.write_text(
        f"run:\n  semantic: true\n  workers: 2\n  parquet: {str(parquet).lower()}\n"
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
        assert last_string_member(record, "category") is None  # not packed: nothing to read
        assert record_field(record, "category") == field_value(data, "category")
        assert pack(record)
        assert last_string_member(record, "category") in (None, expected), data
        assert record_field(record, "category") == field_value(data, "category"), data
        assert label_balance([record], "category") == label_balance(
            [Record("f", 1, data, 1)], "category"
        )
    # Read from the bytes only when it is the last member, a plain string.
    for data, expected in (
        ({"category": "a", "x": 1, "z": "q"}, None),
        ({"x": [1], "category": "é漢"}, "é漢"),
        ({"x": [1], "category": "a\\b"}, None),
    ):
        record = Record("f", 1, data, 1)
        pack(record)
        assert last_string_member(record, "category") == expected, data


class CountingOrjson:
    """``orjson`` with its ``loads`` calls counted (for ``curate.records``' reference)."""

    def __init__(self) -> None:
        self.loads_calls = 0

    def loads(self, text: Any) -> Any:
        self.loads_calls += 1
        return orjson.loads(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(orjson, name)


def test_a_field_of_a_packed_record_is_read_with_at_most_one_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counting = CountingOrjson()
    monkeypatch.setattr(records_mod, "orjson", counting)
    for data in [*FIELD_CASES, {"messages": [], "category": "last"}]:
        record = Record("f", 1, data, 1)
        assert pack(record)
        for read in (
            lambda r: record_field(r, "category"),
            lambda r: label_balance([r], "category"),
        ):
            counting.loads_calls = 0
            read(record)
            assert counting.loads_calls <= 1, data
    record = Record("f", 1, {"messages": [], "category": "last"}, 1)
    pack(record)
    counting.loads_calls = 0
    assert record_field(record, "category") == "last"
    assert label_balance([record], "category")["counts"][0]["label"] == "last"
    assert counting.loads_calls == 0


def _held_packed(record: Record) -> bool:
    """Whether ``record`` holds only its bytes (its ``data`` slot unset)."""
    try:
        Record.data.__get__(record, Record)  # type: ignore[attr-defined]
    except AttributeError:
        return record.packed is not None
    return False


def test_a_packed_record_is_copied_and_pickled_as_its_bytes() -> None:
    for data in PLAIN:
        record = Record("f.jsonl", 3, data, 2)
        pack(record)
        assert _held_packed(record)
        for twin in (
            pickle.loads(pickle.dumps(record)),
            copy.copy(record),
            copy.deepcopy(record),
        ):
            assert _held_packed(twin)
            assert twin.packed == record.packed
            assert twin == record and twin.data == data
            assert (twin.source, twin.line, twin.text_line) == ("f.jsonl", 3, 2)
        plain = Record("f.jsonl", 3, data, 2)
        twin = pickle.loads(pickle.dumps(plain))
        assert twin.packed is None and twin.data == data and twin == plain


def test_replacing_the_data_of_a_packed_record_gives_an_unpacked_record() -> None:
    record = Record("f", 1, {"messages": [], "category": "old"}, 1)
    pack(record)
    new = {"messages": [], "category": "new"}
    other = dataclasses.replace(record, data=new)
    assert other.packed is None and other.data is new
    assert record_line(other) == dumps_line(new)
    assert record_field(other, "category") == "new"
    assert record.data == {"messages": [], "category": "old"}  # the original is untouched
    with pytest.raises(TypeError):
        Record("f", 1, {}, 1, packed=b"{}")  # type: ignore[call-arg]


def test_the_last_string_member_is_read_without_parsing() -> None:
    # Bytes no parser accepts: only the shortcut can answer.
    record = Record("f", 1, {}, 1)
    object.__setattr__(record, "packed", b'{"messages":[?],"category":"chat"}')
    object.__delattr__(record, "data")
    assert last_string_member(record, "category") == "chat"
    assert record_field(record, "category") == "chat"
    assert last_string_member(record, "messages") is None  # not the last member
    with pytest.raises(orjson.JSONDecodeError):
        record_field(record, "messages")  # parsed


def test_only_json_text_sources_skip_the_walk(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"{}\n")
    (tmp_path / "b.json.gz").write_bytes(b"")
    (tmp_path / "c.parquet").write_bytes(b"")
    (tmp_path / "hf").mkdir()
    assert read_as_json_text("-")
    assert read_as_json_text(str(tmp_path / "a.jsonl"))
    assert read_as_json_text(str(tmp_path / "b.json.gz"))
    assert not read_as_json_text(str(tmp_path / "c.parquet"))
    assert not read_as_json_text(str(tmp_path / "hf"))
    assert not read_as_json_text(str(tmp_path / "gone.jsonl"))


def test_a_parquet_shard_after_a_jsonl_shard_is_packed_with_the_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder's ``ReadStats.format`` counts a shard once it has been read: while the
    # Parquet shard is read it still says ``jsonl`` (the first shard's). Its dates must not
    # be packed as strings.
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "data"
    data.mkdir()
    rows = identity_rows(1100)
    for i, r in enumerate(rows):
        r["category"] = "abc"[i % 3]
    (data / "a.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    dated = [
        {
            "messages": [
                {"role": "user", "content": f"Question {i} about the {w} of the day?"},
                {"role": "assistant", "content": f"Answer {i}: the {w} is fine today."},
            ],
            "category": "abc"[i % 3],
            "day": datetime.date(2024, 1, 1) + datetime.timedelta(days=i),
        }
        for i, w in enumerate(["harbour", "meadow", "bridge", "lantern", "orchard"] * 8)
    ]
    pq.write_table(pa.Table.from_pylist(dated), data / "b.parquet")

    with_packing = _run(tmp_path, data, "packed", parquet=True)
    monkeypatch.setattr(run_mod, "pack", lambda record, from_json_text=False: False)
    without = _run(tmp_path, data, "parsed", parquet=True)
    assert "train.parquet" in without
    assert pq.read_schema(tmp_path / "parsed" / "train.parquet").field("day").type == pa.date32()
    assert with_packing.keys() == without.keys()
    for name in ("train.parquet", "test.parquet", *without):
        assert with_packing[name] == without[name], name
