"""The record stream: every container, every awkward line, nothing lost, memory flat."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import orjson
import pytest

from curate.errors import InputError
from curate.records import BadLine, Record, RecordReader, write_jsonl

CHAT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
CHAT_LINE = json.dumps(CHAT).encode()


def read(path: Path | str) -> tuple[list[Record | BadLine], RecordReader]:
    reader = RecordReader(path)
    return list(reader), reader


def test_bom_crlf_blank_lines_and_missing_final_newline(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + CHAT_LINE + b"\r\n\r\n   \t\r\n" + CHAT_LINE)  # no final \n
    items, reader = read(p)
    assert [type(i) for i in items] == [Record, Record]
    assert [i.line for i in items] == [1, 4]
    assert items[0].data == CHAT and items[1].data == CHAT
    s = reader.stats
    assert (s.physical_lines, s.blank_lines, s.records, s.bad_lines) == (4, 2, 2, 0)
    assert s.blank_line_numbers == [2, 3]
    assert s.format == "jsonl"


def test_invalid_utf8_in_one_line_the_rest_still_reads(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    bad = b'{"messages": "caf\xe9"}'
    p.write_bytes(CHAT_LINE + b"\n" + bad + b"\n" + CHAT_LINE + b"\n")
    items, reader = read(p)
    assert [type(i) for i in items] == [Record, BadLine, Record]
    assert items[1].reason == "invalid_utf8" and items[1].line == 2
    assert "caf" in items[1].raw  # the line is kept for the rejects file
    assert reader.stats.bad_lines == 1 and reader.stats.records == 2


def test_bad_json_and_non_object_lines_are_findings(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"messages": [\n[1, 2]\n"text"\n' + CHAT_LINE + b"\n")
    items, _ = read(p)
    assert [(type(i).__name__, getattr(i, "reason", None)) for i in items] == [
        ("BadLine", "json_decode"),
        ("BadLine", "not_an_object"),
        ("BadLine", "not_an_object"),
        ("Record", None),
    ]
    assert items[0].raw == '{"messages": ['


def test_single_10mb_line(tmp_path: Path) -> None:
    p = tmp_path / "big.jsonl"
    text = "x" * (10 * 1024 * 1024)
    big = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": text}]}
    p.write_bytes(orjson.dumps(big) + b"\n" + CHAT_LINE + b"\n")
    items = list(RecordReader(p, max_record_bytes=16 * 1024 * 1024))  # over the default limit
    assert [i.line for i in items] == [1, 2]
    assert len(items[0].data["messages"][1]["content"]) == len(text)


def test_deeply_nested_json_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    p = tmp_path / "deep.jsonl"
    deep = b'{"a": ' * 100_000 + b"1" + b"}" * 100_000
    p.write_bytes(CHAT_LINE + b"\n" + deep + b"\n" + CHAT_LINE + b"\n")
    items, _ = read(p)
    assert [type(i) for i in items] == [Record, BadLine, Record]
    assert items[1].reason == "too_deep" and items[1].line == 2
    # Inside a JSON array the same element is a finding too (the array cannot go on after it).
    arr = tmp_path / "deep.json"
    arr.write_bytes(b"[" + CHAT_LINE + b",\n" + b"[" * 100_000 + b"]" * 100_000 + b"]")
    items, _ = read(arr)
    assert [type(i) for i in items] == [Record, BadLine] and items[1].reason == "too_deep"


def test_json_array_elements_keep_index_and_physical_line(tmp_path: Path) -> None:
    p = tmp_path / "arr.json"
    p.write_text("[\n  " + json.dumps(CHAT) + ",\n  42,\n\n  " + json.dumps(CHAT) + "\n]\n")
    items, reader = read(p)
    assert [type(i).__name__ for i in items] == ["Record", "BadLine", "Record"]
    assert [i.line for i in items] == [1, 2, 3]
    assert items[0].text_line == 2 and items[2].text_line == 5
    assert items[1].reason == "not_an_object"
    assert reader.stats.format == "json_array" and reader.stats.records == 2


def test_invalid_utf8_in_one_array_element_the_rest_still_reads(tmp_path: Path) -> None:
    p = tmp_path / "arr.json"
    p.write_bytes(b'[\n {"a": "ok"},\n {"b": "bad \xff byte"},\n {"c": "\xc3\xa9t\xc3\xa9"}\n]\n')
    items, reader = read(p)
    assert [type(i).__name__ for i in items] == ["Record", "BadLine", "Record"]
    assert (items[1].line, items[1].reason) == (2, "invalid_utf8")
    assert items[1].raw == '{"b": "bad \ufffd byte"}'  # the element goes to rejects whole
    assert items[2].data == {"c": "été"}
    assert (reader.stats.records, reader.stats.bad_lines) == (2, 1)


def test_data_after_a_json_array_is_a_finding(tmp_path: Path) -> None:
    p = tmp_path / "arr.json"
    p.write_text('[{"a": 1}]\n trailing')
    items, reader = read(p)
    assert [type(i).__name__ for i in items] == ["Record", "BadLine"]
    assert items[1].reason == "json_decode" and items[1].raw == "trailing"
    p.write_text('[{"a": 1}]\n\n')  # trailing whitespace is fine
    items, _ = read(p)
    assert [type(i).__name__ for i in items] == ["Record"]


def test_pretty_printed_records_are_read_as_json_values(tmp_path: Path) -> None:
    p = tmp_path / "pretty.json"
    p.write_text(json.dumps(CHAT, indent=2) + "\n" + json.dumps(CHAT, indent=2) + "\n")
    items, reader = read(p)
    assert [type(i).__name__ for i in items] == ["Record", "Record"]
    assert [i.line for i in items] == [1, 2] and items[0].data == CHAT
    assert items[1].text_line == json.dumps(CHAT, indent=2).count("\n") + 2
    assert reader.stats.format == "json_values"


def test_gzip_jsonl(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl.gz"
    with gzip.open(p, "wb") as fh:
        fh.write(CHAT_LINE + b"\n\n" + CHAT_LINE + b"\n")
    items, reader = read(p)
    assert [i.line for i in items] == [1, 3] and reader.stats.blank_lines == 1


def test_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    rows = [dict(CHAT, category="a"), {"messages": CHAT["messages"]}]
    pq.write_table(pa.Table.from_pylist(rows), p)
    items, reader = read(p)
    assert [i.data for i in items] == rows  # the None fill for a missing key is dropped
    assert [i.line for i in items] == [1, 2] and reader.stats.format == "parquet"


def test_hf_dataset_folder(tmp_path: Path) -> None:
    import datasets

    datasets.disable_progress_bars()
    rows = [dict(CHAT, category="a"), dict(CHAT, category="b")]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    items, reader = read(tmp_path / "ds")
    assert [i.data for i in items] == rows and reader.stats.format == "hf_dataset"


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    fake = io.TextIOWrapper(io.BytesIO(CHAT_LINE + b"\n\n" + CHAT_LINE + b"\n"))
    monkeypatch.setattr(sys, "stdin", fake)
    items, reader = read("-")
    assert [(i.source, i.line) for i in items] == [("-", 1), ("-", 3)]


def test_missing_file_and_plain_directory_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        RecordReader(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="not a Hugging Face dataset"):
        RecordReader(tmp_path)


def test_reading_is_streaming_not_loading(tmp_path: Path) -> None:
    """The reader yields the first record before it has read the rest of the file."""
    p = tmp_path / "d.jsonl"
    p.write_bytes((CHAT_LINE + b"\n") * 5000)
    reader = RecordReader(p)
    first = next(iter(reader))
    assert first.line == 1 and reader.stats.physical_lines == 1


def test_writer_is_atomic_and_leaves_input_alone(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(CHAT_LINE + b"\n")
    before = src.read_bytes()
    out = tmp_path / "out.jsonl"

    def boom():
        yield CHAT
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(out, boom())
    assert not out.exists() and list(tmp_path.iterdir()) == [src]  # no temp file left
    assert write_jsonl(out, [r.data for r in RecordReader(src)]) == 1
    assert src.read_bytes() == before and out.read_bytes() == orjson.dumps(CHAT) + b"\n"
