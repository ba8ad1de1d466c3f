"""Test records -> examples: prompt/reference split, labels, and nothing lost."""

from __future__ import annotations

import json

import pytest

from curate.errors import InputError
from curate.evaluate import load_examples


def test_prompt_is_everything_before_the_last_assistant_turn(tmp_path):
    rec = {"id": 7, "meta": {"task": "chat"}, "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"}, {"role": "user", "content": "and?"},
        {"role": "assistant", "content": "bye"}]}  # fmt: skip
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    [ex] = load_examples(path, label_field="meta.task").examples
    assert ex.id == "7" and ex.label == "chat" and ex.reference == "bye"
    assert [m["role"] for m in ex.prompt] == ["system", "user", "assistant", "user"]


def test_unusable_lines_are_counted_with_reasons(tmp_path):
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    lines = [json.dumps(good), "{broken", json.dumps({"text": "no messages"}), "",
             json.dumps({"messages": [{"role": "user", "content": "no answer"}]}),
             json.dumps(good), json.dumps(good)]  # fmt: skip
    path = tmp_path / "test.jsonl"
    path.write_text("\n".join(lines) + "\n")
    found = load_examples(tmp_path, max_examples=2)  # a split folder: its test.jsonl
    assert [e.line for e in found.examples] == [1, 6]
    assert [(s.line, s.reason) for s in found.skipped] == [
        (2, "json_decode"), (3, "no_messages"), (5, "no_reference")]  # fmt: skip
    counts = found.counts()
    assert counts["input_records"] == 6  # the blank line is not a record
    assert counts["evaluated"] + counts["skipped"] + counts["beyond_max_examples"] == 6
    assert counts["skipped_by_reason"] == {"json_decode": 1, "no_messages": 1, "no_reference": 1}


def test_duplicate_ids_fall_back_to_source_line(tmp_path):
    rec = {"id": "x", "messages": [{"role": "user", "content": "q"},
                                   {"role": "assistant", "content": "a"}]}  # fmt: skip
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(rec) + "\n" + json.dumps(rec) + "\n")
    assert [e.id for e in load_examples(path).examples] == ["x", f"{path}:2"]


def test_folder_without_test_split_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="a folder without test.jsonl"):
        load_examples(tmp_path)
