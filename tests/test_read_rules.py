"""One set of reading rules for every container: nothing read that cannot be written back.

Regression tests for issue 16 defects 2-4 and issue 10 item 11.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from curate import records
from curate.records import MAX_DEPTH, BadLine, Record, RecordReader
from curate.validate import validate_file

CHAT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
GOOD = json.dumps(CHAT)


def nested(levels: int) -> str:
    """A chat record whose ``meta`` field is a list nested so the record has ``levels``."""
    return json.dumps(CHAT)[:-1] + ', "meta": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}"


# element text -> reason code (None: a record). The same for a JSONL line and an array element.
CASES: list[tuple[str, str | None]] = [
    ('{"n": 18446744073709551615}', None),  # u64 max: orjson keeps it exactly
    ('{"n": -9223372036854775808}', None),  # i64 min
    ('{"n": 18446744073709551616}', "integer_out_of_range"),  # was silently 1.8446744e19
    ('{"n": -9223372036854775809}', "integer_out_of_range"),
    ('{"n": 1' + "0" * 5000 + "}", "integer_out_of_range"),  # int() refuses 4,301+ digits
    ('{"text": "18446744073709551616"}', None),  # digits inside a string are only text
    ('{"x": 1e400}', "number_out_of_range"),
    ('{"x": NaN}', "json_decode"),
    ('{"x": -Infinity}', "json_decode"),
    ('{"s": "\\ud800"}', "lone_surrogate"),
    ('{"s": "\\udc00 x"}', "lone_surrogate"),
    ('{"s": "\\ud83d\\ude00"}', None),  # a real pair is an emoji
    ('{"s": "a\u2028b\u2029c"}', None),  # U+2028 is text inside JSON, not a line end
    (nested(MAX_DEPTH), None),
    (nested(MAX_DEPTH + 1), "too_deep"),
    (nested(254), "too_deep"),
    (nested(255), "too_deep"),
    (nested(256), "too_deep"),
    (nested(300), "too_deep"),
    (nested(1000), "too_deep"),
    (nested(1100), "too_deep"),
    ('{"a": 1,, "b": 2}', "json_decode"),
]


def outcome(item: Record | BadLine) -> str | None:
    return item.reason if isinstance(item, BadLine) else None


def test_one_set_of_rules_for_jsonl_and_json_arrays(tmp_path: Path) -> None:
    texts = [GOOD, *(t for t, _ in CASES), GOOD]
    want = [None, *(r for _, r in CASES), None]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("\n".join(texts) + "\n", encoding="utf-8")
    array = tmp_path / "d.json"
    array.write_text("[\n" + ",\n".join(texts) + "\n]\n", encoding="utf-8")
    for path in (jsonl, array):
        reader = RecordReader(path)
        items = list(reader)
        # A bad element no longer ends the array: every element is accounted for, in order.
        assert [outcome(i) for i in items] == want, path.name
        assert [i.line for i in items] == list(range(1, len(texts) + 1))
        assert reader.stats.records + reader.stats.bad_lines == len(texts)
        # Whatever was read can be written back exactly.
        for item in items:
            if isinstance(item, Record):
                assert orjson.loads(orjson.dumps({"record": item.data})) == {"record": item.data}
        assert items[1].data == {"n": 2**64 - 1} and type(items[1].data["n"]) is int
    report = validate_file(array)
    assert report.records == len(texts)


class _Counted(bytes):
    """A line that counts the passes made over it (``translate`` and ``count``)."""

    passes = 0

    def translate(self, *args: Any) -> bytes:
        type(self).passes += 1
        return super().translate(*args)

    def count(self, *args: Any) -> int:
        type(self).passes += 1
        return super().count(*args)


def test_the_reader_scans_a_line_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The reader's scan decides whether the exact checks run; it then serves them too (they
    # scanned the line twice more before). Same decisions either way.
    lines = [GOOD, *(t for t, r in CASES if r in (None, "too_deep", "integer_out_of_range"))]
    got: list[bool] = []
    real = records._unwritable

    def spy(raw: bytes, value: Any, scan: bytes | None = None) -> tuple[str, str] | None:
        got.append(scan == raw.translate(records._SCAN_MAP))
        _Counted.passes = 0
        problem = real(_Counted(raw), value, scan)
        assert _Counted.passes == 0
        assert problem == real(raw, value)  # the scan made inside: the same outcome
        return problem

    monkeypatch.setattr(records, "_unwritable", spy)
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(RecordReader(path))
    want = [None] + [r for _, r in CASES if r in (None, "too_deep", "integer_out_of_range")]
    assert [outcome(i) for i in items] == want
    assert got and all(got)  # called with the scan, for the lines its checks were due on


def test_array_resynchronises_after_a_syntax_error_and_a_deep_element(tmp_path: Path) -> None:
    p = tmp_path / "a.json"
    deep = "[" * 5000 + "]" * 5000
    p.write_text(
        "[" + ",".join([GOOD, '{"a": tru}', GOOD, deep, GOOD, '{"x": "a, b]"}', GOOD]) + "]"
    )
    reader = RecordReader(p)
    got = [outcome(i) for i in reader]
    assert got == [None, "json_decode", None, "too_deep", None, None, None]
    assert reader.stats.records == 5 and reader.stats.bad_lines == 2


def test_array_resync_across_buffer_boundaries(tmp_path: Path, monkeypatch) -> None:
    import curate.records as records

    monkeypatch.setattr(records, "ARRAY_CHUNK", 7)  # every element spans several chunks
    p = tmp_path / "a.json"
    p.write_text(
        "[" + ",".join([GOOD, '{"a": "x", oops "b,]"}', GOOD, "[" * 2000 + "]" * 2000, GOOD]) + "]"
    )
    assert [outcome(i) for i in RecordReader(p)] == [None, "json_decode", None, "too_deep", None]


@pytest.mark.parametrize("sep", ["\r", "\r\n", "\n"])
def test_cr_crlf_and_lf_line_endings(tmp_path: Path, sep: str) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(sep.join([GOOD] * 5).encode() + sep.encode())
    reader = RecordReader(p)
    items = list(reader)
    assert [type(i) for i in items] == [Record] * 5  # CR-only was one invalid line before
    assert [i.line for i in items] == [1, 2, 3, 4, 5]
    p.write_bytes(f"{GOOD}\r{{bad\r\r{GOOD}\n".encode())
    items = list(RecordReader(p))
    assert [(i.line, outcome(i)) for i in items] == [(1, None), (2, "json_decode"), (4, None)]


def test_parquet_values_json_cannot_hold(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    table = pa.table({"x": [1.0, float("nan"), 2.0, None], "b": [None, None, b"\x00", None]})
    pq.write_table(table, p)
    items = list(RecordReader(p))
    assert [outcome(i) for i in items] == [None, "number_out_of_range", "unwritable_value", None]


def test_run_with_a_300_deep_extra_field_finishes(tmp_path: Path) -> None:
    """Issue 10 item 11: the record is rejected when read, and the run writes its folder."""
    from click.testing import CliRunner

    from curate.cli import main

    rows = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"Question {i} about topic {i * 7}?"},
                    {"role": "assistant", "content": f"Answer {i}: it depends on {i * 13}."},
                ]
            }
        )
        for i in range(12)
    ]
    rows[3] = rows[3][:-1] + ', "meta": ' + "[" * 300 + "]" * 300 + "}"
    src = tmp_path / "d.jsonl"
    src.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["run", str(src), "-o", str(out), "--no-semantic"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rejected_by_reason"].get("too_deep") == 1
    assert manifest["balanced"] and manifest["kept"] + manifest["rejected"] == 12


def test_a_huge_record_is_rejected_when_read(tmp_path: Path) -> None:
    """Issue 16 #7: one huge message was tokenised, shingled and embedded whole (GBs)."""
    big = json.dumps({"messages": [{"role": "user", "content": "x " * 3000}]})
    for name, text in (
        ("d.jsonl", f"{GOOD}\n{big}\n{GOOD}\n"),
        ("d.json", f"[{GOOD},{big},{GOOD}]"),
    ):
        p = tmp_path / name
        p.write_text(text)
        items = list(RecordReader(p, max_record_bytes=4096))
        assert [outcome(i) for i in items] == [None, "record_too_large", None]
        assert items[1].raw == big  # the whole record goes to rejects: nothing is lost
        assert "over the 4,096-byte limit" in items[1].message


def test_embedding_text_is_capped_before_tokenising() -> None:
    from curate.embed import MAX_EMBED_CHARS, get_embedder

    emb = get_embedder("fast", cache_dir=False)
    head = "the quick brown fox jumps over the lazy dog " * 400
    a, b = emb.encode([head[:MAX_EMBED_CHARS], head[:MAX_EMBED_CHARS] + "zebra " * 50_000])
    assert float(a @ b) > 0.9999  # the tail past the cap never reached the model
