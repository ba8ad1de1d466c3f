"""Format detection and conversion to canonical chat (library and `curate convert`)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.convert import convert_file
from curate.errors import ConfigError, InputError
from curate.formats import (
    ConversionError,
    Converter,
    convert_record,
    detect_format,
    to_chat,
)
from curate.records import Record
from curate.stage import Dropped, collect
from curate.validate import validate_record

TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
SHAREGPT_TOOLS = {
    "id": "tc-1",
    "conversations": [
        {"from": "human", "value": "Weather in Paris and Rome?"},
        {
            "from": "function_call",
            "value": '{"name": "get_weather", "arguments": {"city": "Paris"}}',
        },
        {
            "from": "function_call",
            "value": '{"name": "get_weather", "arguments": {"city": "Rome"}}',
        },
        {"from": "observation", "value": '{"temp": 18}'},
        {"from": "observation", "value": '{"temp": 24}'},
        {"from": "gpt", "value": "Paris 18°C, Rome 24°C."},
        {"from": "human", "value": "And Oslo?"},
        {
            "from": "function_call",
            "value": '{"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}',
        },
        {"from": "observation", "value": '{"temp": 3}'},
        {"from": "gpt", "value": "Oslo is 3°C."},
    ],
    "tools": json.dumps(TOOLS),
}


def test_detect_format() -> None:
    assert detect_format({"messages": []}) == "chat"
    assert detect_format({"conversations": []}) == "sharegpt"
    assert detect_format({"instruction": "a", "input": "", "output": "b"}) == "alpaca"
    assert detect_format({"prompt": "a", "completion": "b"}) == "prompt_completion"
    assert detect_format({"text": "a"}) == "unknown"
    assert detect_format([1]) == "unknown"


def test_alpaca_with_input_system_history_and_metadata() -> None:
    rec = {
        "instruction": "Translate to French.",
        "input": "Good morning",
        "output": "Bonjour",
        "system": "You translate.",
        "history": [["Hi", "Hello!"]],
        "category": "translation",
    }
    out, notes = convert_record(rec)
    assert out == {
        "messages": [
            {"role": "system", "content": "You translate."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Translate to French.\n\nGood morning"},
            {"role": "assistant", "content": "Bonjour"},
        ],
        "category": "translation",
    }
    assert notes == [] and validate_record(out) == []
    plain, _ = convert_record({"instruction": "Say hi", "input": "", "output": "hi"})
    assert plain["messages"][0] == {"role": "user", "content": "Say hi"}


def test_alpaca_bad_history_is_a_conversion_error() -> None:
    with pytest.raises(ConversionError, match=r"history\[0\]"):
        convert_record({"instruction": "a", "output": "b", "history": [["only one"]]})


def test_sharegpt_roles_system_and_role_content_variant() -> None:
    rec = {
        "id": "x1",
        "system": "Be kind.",
        "conversations": [
            {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Hello"},
        ],
    }
    out, notes = convert_record(rec)
    assert out == {
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
        ],
        "id": "x1",
    }
    alt, _ = convert_record(
        {
            "conversations": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Yo"},
            ]
        }
    )
    assert [m["role"] for m in alt["messages"]] == ["user", "assistant"]


def test_sharegpt_tool_calls_become_openai_tool_calls() -> None:
    out, notes = convert_record(SHAREGPT_TOOLS)
    msgs = out["messages"]
    assert [m["role"] for m in msgs] == [
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    first = msgs[1]
    assert first["content"] is None
    assert [c["id"] for c in first["tool_calls"]] == ["call_1", "call_2"]  # parallel calls merged
    assert first["tool_calls"][0] == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    assert [msgs[2]["tool_call_id"], msgs[3]["tool_call_id"]] == ["call_1", "call_2"]
    assert msgs[3]["content"] == '{"temp": 24}'
    # arguments given as a JSON string stay exactly as given
    assert msgs[6]["tool_calls"][0]["function"]["arguments"] == '{"city": "Oslo"}'
    assert msgs[7]["tool_call_id"] == "call_3"
    assert out["tools"] == [{"type": "function", "function": TOOLS[0]}]
    assert out["id"] == "tc-1" and notes == []
    assert validate_record(out) == []
    # deterministic: same input, same bytes
    assert orjson.dumps(convert_record(SHAREGPT_TOOLS)[0]) == orjson.dumps(out)


def test_sharegpt_tools_as_list_and_already_openai_form() -> None:
    rec = dict(SHAREGPT_TOOLS, tools=TOOLS)
    assert convert_record(rec)[0]["tools"] == [{"type": "function", "function": TOOLS[0]}]
    openai = [{"type": "function", "function": TOOLS[0]}]
    assert convert_record(dict(SHAREGPT_TOOLS, tools=openai))[0]["tools"] == openai
    assert "tools" not in convert_record(dict(SHAREGPT_TOOLS, tools="[]"))[0]


@pytest.mark.parametrize(
    ("turns", "tools", "match"),
    [
        ([{"from": "bard", "value": "x"}], None, "unknown role 'bard'"),
        (
            [{"from": "human", "value": "x"}, {"from": "observation", "value": "1"}],
            None,
            "answers no function_call",
        ),
        (
            [{"from": "function_call", "value": "not json"}],
            None,
            "function_call value is a string but not valid JSON",
        ),
        ([{"from": "function_call", "value": '{"arguments": {}}'}], None, "no function name"),
        ([{"from": "human", "value": "x"}], "{broken", "tools is a string but not valid JSON"),
        ("nope", None, "conversations is not a list"),
    ],
)
def test_sharegpt_conversion_errors(turns, tools, match) -> None:
    rec = {"conversations": turns}
    if tools is not None:
        rec["tools"] = tools
    with pytest.raises(ConversionError, match=match):
        convert_record(rec)


def test_what_chat_cannot_hold_is_reported_as_notes() -> None:
    rec = {
        "conversations": [
            {"from": "human", "value": "Hi", "markdown": True},
            {"from": "function_call", "value": '{"name": "f", "arguments": {}}'},
        ]
    }
    out, notes = convert_record(rec)
    assert sorted(notes) == ["dropped_message_key", "unanswered_tool_call"]
    assert out["messages"][0] == {"role": "user", "content": "Hi"}


def test_prompt_completion_strings_and_message_lists() -> None:
    out, _ = convert_record({"prompt": "2+2?", "completion": "4", "source": "math"})
    assert out == {
        "messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
        "source": "math",
    }
    conv = {
        "prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
        "completion": [{"role": "assistant", "content": "a"}],
    }
    assert [m["role"] for m in convert_record(conv)[0]["messages"]] == [
        "system",
        "user",
        "assistant",
    ]


def test_chat_passes_through_unchanged() -> None:
    rec = Record("f.jsonl", 1, {"messages": [{"role": "user", "content": "x"}], "k": 1})
    assert to_chat(rec) is rec


def test_converter_step_keeps_one_format_per_file_and_counts_everything() -> None:
    records = [
        Record("f", 1, {"instruction": "a", "output": "b", "id": 1}),
        Record("f", 2, {"conversations": [{"from": "human", "value": "x"}]}),  # not alpaca
        Record("f", 3, {"instruction": "c", "input": "d", "output": "e"}),
    ]
    conv = Converter()
    result = collect(conv, records)
    assert [r.line for r in result.kept] == [1, 3]
    assert len(result.kept) + len(result.dropped) == len(records)
    assert result.reasons() == {"conversion_error": 1}
    assert result.kept[0].data["id"] == 1 and result.kept[0].line == 1
    assert conv.source_format == "alpaca" and conv.stats()["format_detected_from"] == "f:1"
    assert conv.stats()["formats"] == {"alpaca": 2}


def test_converter_unknown_format_and_keep_unknown() -> None:
    rec = Record("f", 1, {"text": "hello"})
    dropped = Converter()(rec)
    assert isinstance(dropped, Dropped) and dropped.reason == "unknown_format"
    assert Converter(keep_unknown=True)(rec) is rec
    with pytest.raises(ConfigError, match="unknown format"):
        Converter("csv")


def test_converter_notes_name_their_lines() -> None:
    rec = Record("f", 7, {"conversations": [{"from": "human", "value": "x", "extra": 1}]})
    conv = Converter()
    conv(rec)
    assert conv.stats()["conversion_notes"] == {"dropped_message_key": 1}
    assert conv.stats()["conversion_note_examples"] == {"dropped_message_key": ["f:7"]}


def _write_sharegpt_array(path: Path) -> None:
    rows = [
        SHAREGPT_TOOLS,
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]},
        {"conversations": [{"from": "robot", "value": "??"}]},
    ]
    path.write_text(json.dumps(rows, indent=1))


def test_convert_file_accounts_for_every_line(tmp_path: Path) -> None:
    src = tmp_path / "sg.json"
    _write_sharegpt_array(src)
    before = src.read_bytes()
    report = convert_file(src, tmp_path / "out.jsonl", rejects=tmp_path / "rej.jsonl")
    assert report["records"] == 3 and report["converted"] == 2 and report["format"] == "sharegpt"
    assert report["stats"]["rejected_by_reason"] == {"conversion_error": 1}
    out_lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    rejects = [json.loads(x) for x in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert len(out_lines) + len(rejects) == report["records"]
    assert rejects[0]["line"] == 3 and rejects[0]["reason"] == "conversion_error"
    assert rejects[0]["record"] == {"conversations": [{"from": "robot", "value": "??"}]}
    assert src.read_bytes() == before
    first = (tmp_path / "out.jsonl").read_bytes()
    convert_file(src, tmp_path / "out.jsonl")
    assert (tmp_path / "out.jsonl").read_bytes() == first  # deterministic


def test_convert_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    src = tmp_path / "sg.json"
    _write_sharegpt_array(src)
    with pytest.raises(InputError, match="would overwrite the input"):
        convert_file(src, src)
    with pytest.raises(InputError, match="would overwrite the input"):
        convert_file(src, tmp_path / "ok.jsonl", rejects=src)
    with pytest.raises(InputError, match="would overwrite another output"):
        convert_file(src, tmp_path / "same.jsonl", rejects=tmp_path / "same.jsonl")
    assert src.read_bytes()[:1] == b"["  # untouched


def test_cli_convert(tmp_path: Path) -> None:
    src = tmp_path / "sg.json"
    _write_sharegpt_array(src)
    out = tmp_path / "chat.jsonl"
    res = CliRunner().invoke(main, ["convert", str(src), "-o", str(out), "--json"])
    assert res.exit_code == 1, res.output  # one record could not be converted
    report = json.loads(res.stdout)
    assert report["converted"] == 2 and report["rejected"][0]["line"] == 3
    assert "2 chat records" in res.stderr
    res = CliRunner().invoke(main, ["validate", str(out)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["convert", str(src), "-o", str(src)])
    assert res.exit_code == 2 and "overwrite the input" in res.stderr
    assert "Traceback" not in res.output


def test_cli_convert_from_and_stdout(tmp_path: Path) -> None:
    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n")
    res = CliRunner().invoke(main, ["convert", str(src), "-o", "-", "--from", "alpaca"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["messages"][1] == {"role": "assistant", "content": "b"}
    res = CliRunner().invoke(main, ["convert", str(src), "-o", "-", "--from", "sharegpt"])
    assert res.exit_code == 1 and res.stdout == ""
    res = CliRunner().invoke(main, ["convert", str(src), "-o", "-", "--json"])
    assert res.exit_code == 2 and "pick one" in res.stderr


def test_sharegpt_text_then_call_is_one_assistant_turn() -> None:
    rec = {
        "conversations": [
            {"from": "human", "value": "Weather?"},
            {"from": "gpt", "value": "Let me check."},
            {"from": "function_call", "value": '{"name": "w", "arguments": {}}'},
            {"from": "observation", "value": "sunny"},
            {"from": "gpt", "value": "Sunny."},
        ]
    }
    msgs = convert_record(rec)[0]["messages"]
    assert msgs[1] == {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
        ],
    }
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant"]
    assert validate_record({"messages": msgs}) == []


def test_sharegpt_assistant_weight_is_kept_other_turn_keys_are_noted() -> None:
    chat, notes = convert_record(
        {
            "conversations": [
                {"from": "human", "value": "hi", "weight": 0},
                {"from": "gpt", "value": "draft", "weight": 0},
                {"from": "human", "value": "again"},
                {"from": "gpt", "value": "final", "weight": 1},
            ]
        }
    )
    assert [m.get("weight") for m in chat["messages"]] == [None, 0, None, 1]
    assert notes == ["dropped_message_key"]  # a user turn cannot carry a weight


# -- one format per file, by majority -------------------------------------------------------


def _chat_row(i: int) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"What is {i} + 1?"},
            {"role": "assistant", "content": f"{i} + 1 = {i + 1}."},
        ]
    }


def test_majority_decides_the_format_not_the_first_line(tmp_path: Path) -> None:
    sharegpt = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}
    alpaca = {"instruction": "Say hi", "output": "hi"}
    rows = [sharegpt] + [_chat_row(i) for i in range(1000)] + [alpaca, {"text": "free text"}]
    src = tmp_path / "mixed.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = convert_file(src, tmp_path / "out.jsonl", rejects=tmp_path / "rej.jsonl")
    assert report["format"] == "chat" and report["converted"] == 1000
    assert report["stats"]["format_votes"] == {"chat": 999, "sharegpt": 1}
    rejects = {
        r["line"]: r for r in map(json.loads, (tmp_path / "rej.jsonl").read_text().splitlines())
    }
    assert sorted(rejects) == [1, 1002, 1003]
    assert rejects[1]["reason"] == "conversion_error" and rejects[1]["looks_like"] == "sharegpt"
    assert "looks like sharegpt, but this file is chat" in rejects[1]["detail"]
    assert rejects[1002]["looks_like"] == "alpaca"
    assert rejects[1003]["reason"] == "unknown_format" and "keys: text" in rejects[1003]["detail"]


def test_prime_keeps_every_item_in_order_and_ties_go_to_the_first_format() -> None:
    alpaca = {"instruction": "a", "output": "b"}
    sharegpt = {"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]}
    records = [Record("f", i + 1, r) for i, r in enumerate([sharegpt, alpaca, alpaca, sharegpt])]
    conv = Converter()
    assert list(conv.prime(records)) == records
    assert conv.source_format == "sharegpt" and conv.stats()["format_detected_from"] == "f:1"
    forced = Converter("alpaca")
    assert list(forced.prime(iter(records))) == records and forced.votes == {}
    dropped = forced(records[0])
    assert isinstance(dropped, Dropped) and dropped.extra == {"looks_like": "sharegpt"}


def test_cli_run_keeps_the_majority_format(tmp_path: Path) -> None:
    sharegpt = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}
    rows = [sharegpt] + [_chat_row(i) for i in range(60)]
    src = tmp_path / "mixed.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", str(src), "-o", str(out), "--no-semantic", "--json"])
    assert res.exit_code == 1, res.output  # the odd ShareGPT line is rejected
    assert "run: exit 1: 1 of 61 records rejected" in res.stderr
    manifest = json.loads(res.stdout)
    assert manifest["rejected_by_reason"] == {"conversion_error": 1}
    reject = json.loads((out / "rejects.jsonl").read_text().splitlines()[0])
    assert (reject["line"], reject["looks_like"]) == (1, "sharegpt")


def _call_turns(value: str) -> list[dict[str, str]]:
    return [
        {"from": "human", "value": "call"},
        {"from": "function_call", "value": value},
        {"from": "observation", "value": "ok"},
        {"from": "gpt", "value": "done"},
    ]


def test_json_strings_in_sharegpt_are_read_under_the_readers_rules(tmp_path: Path) -> None:
    # qa10 #2: orjson reads an integer beyond 64 bits as a float; the line reader refuses
    # it (integer_out_of_range), and a JSON string inside the record must not let it through.
    big = "123456789012345678901234567890"
    rows = [
        {"conversations": _call_turns('{"name":"f","arguments":{"id":' + big + "}}")},
        {
            "conversations": _call_turns('{"name":"f","arguments":{"a":1}}'),
            "tools": '[{"name":"f","parameters":{"n":' + big + "}}]",
        },
        {"conversations": _call_turns('{"name":"f","arguments":{"v":NaN}}')},
        {"conversations": _call_turns('{"name":"f","arguments":{"s":"\\ud800"}}')},
        {"conversations": _call_turns('{"name":"f","arguments":{"a":1,"a":2}}')},
    ]
    src = tmp_path / "sg.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    res = CliRunner().invoke(main, ["convert", str(src), "-o", str(out), "--rejects", str(rej)])
    assert res.exit_code == 1, res.output
    rejects = {r["line"]: r for r in map(json.loads, rej.read_text().splitlines())}
    assert {k: r["reason"] for k, r in rejects.items()} == {
        1: "integer_out_of_range",
        2: "integer_out_of_range",
        3: "conversion_error",
        4: "lone_surrogate",
    }
    assert "conversations[1] function_call value: integer " + big in rejects[1]["detail"]
    assert rejects[2]["detail"].startswith("sharegpt: tools: integer " + big)
    assert "e+29" not in out.read_text()
    # A duplicate key keeps the last value, as the reader does for a line's own keys.
    (kept,) = map(json.loads, out.read_text().splitlines())
    assert kept["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"a":2}'


def test_sharegpt_null_value_is_noted_and_run_rejects_it_as_empty(tmp_path: Path) -> None:
    # qa10 #11: {"from": "gpt", "value": null} became content "" with no word of it.
    rows = [
        {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]},
        {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": None}]},
    ]
    src = tmp_path / "sg.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = convert_file(src, tmp_path / "out.jsonl", rejects=tmp_path / "rej.jsonl")
    assert report["stats"]["conversion_notes"] == {"null_value": 1}
    assert report["stats"]["conversion_note_examples"] == {"null_value": [f"{src}:2"]}
    kept = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert kept[1]["messages"][1] == {"role": "assistant", "content": ""}
    # validate (and run) then reject it, as any empty turn
    assert [f.code for f in validate_record(kept[1])] == ["empty_content"]
