"""Tool-use records through Parquet and HF datasets: same records back, just as valid."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from curate.cli import main
from curate.records import RecordReader
from curate.validate import validate_file


def _tool_record(i: int) -> dict:
    """Each record's tool has its own parameter names: the shape that made a null union."""
    param = f"p{i}"
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": f"tool_{i}", "arguments": json.dumps({param: i})},
    }
    # Half the calls carry `content: null`, half have no content key (both legal OpenAI chat).
    assistant = {"role": "assistant", "tool_calls": [call]}
    if i % 2:
        assistant = {"role": "assistant", "content": None, "tool_calls": [call]}
    return {
        "id": f"r{i}",
        "messages": [
            {"role": "user", "content": f"Please run tool {i} on the value {i * 7}."},
            assistant,
            {"role": "tool", "tool_call_id": "call_1", "content": str(i * 7)},
            {"role": "assistant", "content": f"Tool {i} says {i * 7}, record {i}."},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": f"tool_{i}",
                    "description": f"Tool number {i}",
                    "parameters": {
                        "type": "object",
                        "properties": {param: {"type": "integer", "default": None}},
                        "required": [param],
                    },
                },
            }
        ],
    }


def _plain_chat(i: int) -> dict:
    return {
        "id": f"q{i}",
        "messages": [
            {"role": "user", "content": f"What is {i} plus {i}?"},
            {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."},
        ],
    }


def _no_null_keys(obj):
    """What Arrow can hold: a null-valued key and an absent key are the same thing there."""
    if isinstance(obj, dict):
        return {k: _no_null_keys(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_no_null_keys(v) for v in obj]
    return obj


def _by_id(path: Path) -> dict[str, dict]:
    return {r.data["id"]: r.data for r in RecordReader(path)}


def test_split_parquet_and_hf_round_trip_tool_records(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    rows = [_tool_record(i) for i in range(24)] + [_plain_chat(i) for i in range(16)]
    src = tmp_path / "tools.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    args = [
        "split", str(src), "-o", str(out), "--test-size", "0.25",
        "--parquet", "--hf-dataset", "--no-semantic",
    ]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output

    # tools is one string column, not a struct with a field per parameter of every row
    schema = pq.read_schema(out / "train.parquet")
    assert str(schema.field("tools").type) == "string"
    assert "p0" not in str(schema) and "p23" not in str(schema)

    want = {r["id"]: _no_null_keys(r) for r in rows}
    back: dict[str, dict] = {}
    for side in ("train", "test"):
        jsonl = _by_id(out / f"{side}.jsonl")
        parquet = _by_id(out / f"{side}.parquet")
        assert _no_null_keys(parquet) == _no_null_keys(jsonl)
        back.update(parquet)
        # as valid as its source: every record, no finding
        src_report = validate_file(out / f"{side}.jsonl")
        pq_report = validate_file(out / f"{side}.parquet")
        assert pq_report.valid == src_report.valid == len(jsonl)
        assert pq_report.stats["errors_by_code"] == {}
    assert _no_null_keys(back) == want
    # a tool parameter's own null default survives the round trip
    assert back["r3"]["tools"][0]["function"]["parameters"]["properties"]["p3"] == {
        "type": "integer",
        "default": None,
    }
    hf = {r.data["id"]: r.data for r in RecordReader(out / "hf")}
    assert _no_null_keys(hf) == want
    assert validate_file(out / "hf").valid == len(rows)


def test_parquet_written_by_datasets_reads_back_valid(tmp_path: Path) -> None:
    import datasets

    datasets.disable_progress_bars()
    rows = [_tool_record(i) for i in range(12)] + [_plain_chat(i) for i in range(4)]
    src = tmp_path / "tools.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = datasets.Dataset.from_json(str(src), cache_dir=str(tmp_path / "cache"))
    ds.to_parquet(str(tmp_path / "ds.parquet"))
    ds.save_to_disk(str(tmp_path / "ds_hf"))

    for path in (tmp_path / "ds.parquet", tmp_path / "ds_hf"):
        got = [r.data for r in RecordReader(path)]
        assert [_no_null_keys(g) for g in got] == [_no_null_keys(r) for r in rows]
        report = validate_file(path)
        assert (report.valid, report.stats["errors_by_code"]) == (len(rows), {})
