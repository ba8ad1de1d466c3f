"""Validation library: every finding code, OpenAI agreement, schema equivalence, reports."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest

from curate.errors import ConfigError
from curate.tokens import TokenCounter
from curate.validate import CODES, Finding, Validator, validate_file, validate_record
from curate.validate.checks import check_chat, fast_tokens
from curate.validate.codes import SCHEMA_CODES
from curate.validate.schema import bundled_validator

REPO = Path(__file__).resolve().parent.parent
U = {"role": "user", "content": "What is 2+2?"}
A = {"role": "assistant", "content": "4"}
S = {"role": "system", "content": "Be brief."}
CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2}'}}
    ],
}
TOOL = {"role": "tool", "tool_call_id": "c1", "content": "4"}
TOOL_CONVO = {
    "messages": [S, U, CALL, TOOL, A],
    "tools": [{"type": "function", "function": {"name": "add", "parameters": {}}}],
}


def codes(data) -> list[str]:
    return [f.code for f in validate_record(data)]


def msgs(*m) -> dict:
    return {"messages": list(m)}


# (record, code, JSON pointer of the finding)
CASES = [
    ({"prompt": "x"}, "missing_messages", ""),
    ({"messages": []}, "empty_messages", "/messages"),
    ({"messages": "hi"}, "invalid_type", "/messages"),
    (msgs(U, "oops", A), "invalid_type", "/messages/1"),
    (msgs(U, {"content": "x"}, A), "missing_role", "/messages/1"),
    (msgs(U, {"role": "bot", "content": "x"}, A), "unknown_role", "/messages/1/role"),
    (msgs(U, {"role": "assistant"}), "missing_content", "/messages/1/content"),
    (msgs({"role": "user", "content": None}, A), "missing_content", "/messages/0/content"),
    (msgs({"role": "user", "content": 5}, A), "invalid_content", "/messages/0/content"),
    (
        msgs({"role": "user", "content": [{"type": "video"}]}, A),
        "invalid_content",
        "/messages/0/content/0/type",
    ),
    (
        msgs(U, {"role": "assistant", "content": "x", "mood": "happy"}),
        "unrecognized_key",
        "/messages/1/mood",
    ),
    (
        msgs(U, {"role": "user", "content": "x", "tool_calls": []}, A),
        "unrecognized_key",
        "/messages/1/tool_calls",
    ),
    (msgs(U, CALL, {"role": "tool", "content": "4"}, A), "missing_tool_call_id", "/messages/2"),
    (
        msgs(U, {"role": "assistant", "content": None, "tool_calls": []}),
        "invalid_tool_calls",
        "/messages/1/tool_calls",
    ),
    (
        msgs(
            U,
            {
                **CALL,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {}}}
                ],
            },
            TOOL,
            A,
        ),
        "invalid_tool_calls",
        "/messages/1/tool_calls/0/function/arguments",
    ),
    (msgs(U, {**A, "weight": 2}), "invalid_weight", "/messages/1/weight"),
    (
        {**msgs(U, A), "tools": [{"type": "function", "function": {}}]},
        "invalid_tools",
        "/tools/0/function/name",
    ),
    (msgs(U), "no_assistant", "/messages"),
    (msgs(U, {"role": "assistant", "content": "  \n"}), "empty_content", "/messages/1/content"),
    (
        msgs({"role": "user", "content": [{"type": "text", "text": " "}]}, A),
        "empty_content",
        "/messages/0/content",
    ),
    (
        msgs(U, {"role": "tool", "tool_call_id": "zz", "content": "4"}, A),
        "tool_call_unmatched",
        "/messages/1/tool_call_id",
    ),
    (msgs(U, A, U), "last_not_assistant", "/messages/2"),
    (msgs(U, U, A), "consecutive_same_role", "/messages/1/role"),
    (msgs(U, A, S, U, A), "system_not_first", "/messages/2/role"),
    (msgs(U, CALL, A), "tool_call_unanswered", "/messages"),
    (
        msgs(U, {**CALL, "tool_calls": CALL["tool_calls"] * 2}, TOOL, A),
        "duplicate_tool_call_id",
        "/messages/1/tool_calls/1/id",
    ),
    (
        msgs(
            U,
            {
                **CALL,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{oops"},
                    }
                ],
            },
            TOOL,
            A,
        ),
        "tool_arguments_not_json",
        "/messages/1/tool_calls/0/function/arguments",
    ),
    (msgs(U, {**A, "weight": 0}), "no_trainable_turn", "/messages"),
]


@pytest.mark.parametrize(("record", "code", "path"), CASES, ids=[c[1] for c in CASES])
def test_each_finding_code(record, code, path) -> None:
    found = validate_record(record)
    assert (code, path) in [(f.code, f.path) for f in found], found
    match = next(f for f in found if f.code == code)
    assert match.severity == CODES[code][0] and match.message


def test_every_code_is_covered_by_a_test_and_documented() -> None:
    tested = {c[1] for c in CASES} | {
        "json_decode",
        "invalid_utf8",
        "too_deep",
        "not_an_object",
        "unknown_format",
        "conversion_error",
        "schema_violation",
        "over_max_tokens",
        "no_records",  # tests/test_cli_validate.py::test_an_input_without_records_is_a_finding
        # tests/test_read_rules.py::test_one_set_of_rules_for_jsonl_and_json_arrays
        "integer_out_of_range",
        "number_out_of_range",
        "lone_surrogate",
        "unwritable_value",  # tests/test_read_rules.py::test_parquet_values_json_cannot_hold
        "record_too_large",  # tests/test_read_rules.py::test_a_huge_record_is_rejected_when_read
    }
    assert set(CODES) == tested
    doc = (REPO / "docs" / "validate.md").read_text()
    assert [c for c in CODES if f"`{c}`" not in doc] == []


def test_valid_records_have_no_findings() -> None:
    assert validate_record(msgs(S, U, A)) == []
    assert validate_record(TOOL_CONVO) == []
    multimodal = {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
        ],
    }
    dev = {"role": "developer", "content": [{"type": "text", "text": "Terse."}]}
    assert validate_record(msgs(dev, multimodal, {**A, "weight": 1, "name": "bot"})) == []
    assert validate_record({**msgs(U, A), "category": "qa", "id": 7}) == []  # metadata is fine


# -- agreement with OpenAI's published format checks ------------------------------------------


def openai_format_errors(ex) -> set[str]:
    """OpenAI cookbook "Data preparation and analysis for chat model fine-tuning", verbatim
    logic (per example)."""
    errors = set()
    if not isinstance(ex, dict):
        return {"data_type"}
    messages = ex.get("messages", None)
    if not messages:
        return {"missing_messages_list"}
    for message in messages:
        if "role" not in message or "content" not in message:
            errors.add("message_missing_key")
        if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
            errors.add("message_unrecognized_key")
        if message.get("role", None) not in ("system", "user", "assistant", "function"):
            errors.add("unrecognized_role")
        content = message.get("content", None)
        function_call = message.get("function_call", None)
        if (not content and not function_call) or not isinstance(content, str):
            errors.add("missing_content")
    if not any(message.get("role", None) == "assistant" for message in messages):
        errors.add("example_missing_assistant_message")
    return errors


OPENAI_TO_OURS = {
    "missing_messages_list": {"missing_messages", "empty_messages"},
    "message_missing_key": {"missing_role", "missing_content", "missing_tool_call_id"},
    "message_unrecognized_key": {"unrecognized_key"},
    "unrecognized_role": {"unknown_role", "missing_role"},
    "missing_content": {"missing_content", "empty_content", "invalid_content"},
    "example_missing_assistant_message": {"no_assistant"},
}
OPENAI_CASES = [
    {"prompt": "no messages"},
    {"messages": []},
    msgs(U, {"content": "no role"}, A),
    msgs(U, {"role": "assistant"}),
    msgs(U, {"role": "assistant", "content": "x", "mood": 1}),
    msgs(U, {"role": "robot", "content": "x"}, A),
    msgs(U, {"role": "assistant", "content": ""}),
    msgs(U, {"role": "assistant", "content": 42}),
    msgs(S, U),
]


@pytest.mark.parametrize("record", OPENAI_CASES)
def test_agrees_with_openai_checks(record) -> None:
    theirs = openai_format_errors(record)
    ours = set(codes(record))
    assert theirs, "each case is one OpenAI flags"
    for category in theirs:
        assert ours & OPENAI_TO_OURS[category], (category, ours)
    assert any(CODES[c][0] == "error" for c in ours)


def test_openai_data_type_check_maps_to_not_an_object() -> None:
    assert openai_format_errors([1]) == {"data_type"}
    assert codes([1]) == ["not_an_object"]


def test_no_false_positive_on_assistant_tool_calls_with_null_content() -> None:
    assert openai_format_errors(TOOL_CONVO) >= {"missing_content", "message_unrecognized_key"}
    assert validate_record(TOOL_CONVO) == []


# -- the hand checker is the bundled schema -------------------------------------------------


def _mutations(rng: random.Random, n: int, base: list | None = None) -> list:
    values = [
        None,
        "",
        " ",
        "x",
        0,
        1,
        2,
        1.0,
        True,
        [],
        {},
        [1],
        {"a": 1},
        [{"type": "text", "text": "t"}],
        [{"type": "image_url", "image_url": {"url": "u"}}],
        [{"type": "input_audio", "input_audio": {"data": "d"}}],
        "user",
        "tool",
        "bot",
    ]
    keys = [
        "role",
        "content",
        "name",
        "weight",
        "tool_calls",
        "tool_call_id",
        "function_call",
        "extra",
        "type",
        "text",
        "id",
        "function",
        "arguments",
        "url",
        "messages",
        "tools",
    ]
    base = base or [msgs(S, U, A), TOOL_CONVO, msgs(U, {**A, "weight": 0}, U, A)]
    out = []
    for _ in range(n):
        rec = copy.deepcopy(rng.choice(base))
        for _ in range(rng.randint(1, 2)):
            # walk to a random container and set / delete a random key or item
            node = rec
            while True:
                kids = list(node.values()) if isinstance(node, dict) else node
                kids = [k for k in kids if isinstance(k, dict | list) and k]
                if not kids or rng.random() < 0.35:
                    break
                node = rng.choice(kids)
            if isinstance(node, dict):
                key = rng.choice(list(node) + keys)
                if rng.random() < 0.3:
                    node.pop(key, None)
                else:
                    node[key] = copy.deepcopy(rng.choice(values))
            elif node:
                node[rng.randrange(len(node))] = copy.deepcopy(rng.choice(values))
        out.append(rec)
    return out


def test_hand_checker_agrees_with_jsonschema_on_mutated_records() -> None:
    validator = bundled_validator()
    records = _mutations(random.Random(7), 2000)
    disagree = []
    n_invalid = 0
    for rec in records:
        hand_invalid = any(f.code in SCHEMA_CODES for f in check_chat(rec))
        schema_invalid = not validator.is_valid(rec)
        n_invalid += schema_invalid
        if hand_invalid != schema_invalid:
            disagree.append((rec, [f.code for f in check_chat(rec)]))
    assert disagree == []
    assert 200 < n_invalid < 1900  # the corpus exercises both outcomes


def test_fast_path_implies_no_findings_and_the_same_estimate() -> None:
    counter = TokenCounter()
    rng = random.Random(3)
    records = _mutations(rng, 2000) + [msgs(S, U, A), msgs(U, {**A, "content": "héllo 你好"})]
    n_fast = 0
    for rec in records:
        n = fast_tokens(rec)
        if n >= 0:
            n_fast += 1
            assert check_chat(rec) == []
            assert n == counter.count_messages(rec["messages"])
    assert n_fast > 20


# OpenAI tool use as real files hold it: an assistant turn with `tool_calls` and no `content`
# key (legal OpenAI chat, and what a Parquet reader leaves after dropping a null content).
BARE_CALL = {"role": "assistant", "tool_calls": CALL["tool_calls"]}
TWO_CALLS = {
    "role": "assistant",
    "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}},
        {"id": "c2", "type": "function", "function": {"name": "mul", "arguments": '{"b": 3}'}},
    ],
}
TOOL_BASES = [
    msgs(U, BARE_CALL, TOOL, A),
    {**msgs(S, U, BARE_CALL, TOOL, A), "tools": TOOL_CONVO["tools"]},
    msgs(U, TWO_CALLS, TOOL, {**TOOL, "tool_call_id": "c2"}, A),
    msgs(U, {**BARE_CALL, "content": ""}, TOOL, A, U, {"role": "assistant", "tool_calls": []}),
    TOOL_CONVO,
]


def test_assistant_tool_calls_without_a_content_key_are_valid() -> None:
    assert codes(msgs(U, BARE_CALL, TOOL, A)) == []
    assert codes(msgs(U, TWO_CALLS, TOOL, {**TOOL, "tool_call_id": "c2"}, A)) == []
    assert bundled_validator().is_valid(msgs(U, BARE_CALL, TOOL, A))
    # two keys but not {role, content}: the slower checks still run
    assert codes(msgs(U, {"role": "assistant", "tool_calls": []})) == ["invalid_tool_calls"]
    assert codes(msgs(U, {"content": "x", "weight": 2}, A)) == ["invalid_weight", "missing_role"]


def _padded(rec):
    """The record with a harmless ``name`` on every message: forces check_chat's slow path."""
    rec = copy.deepcopy(rec)
    messages = rec.get("messages") if isinstance(rec, dict) else None
    for m in messages if isinstance(messages, list) else []:
        if isinstance(m, dict) and "name" not in m:
            m["name"] = "n"
    return rec


def test_fast_path_agrees_with_jsonschema_and_the_slow_path_on_mutated_tool_calls() -> None:
    validator = bundled_validator()
    records = TOOL_BASES + _mutations(random.Random(11), 1500, TOOL_BASES)
    disagree_schema, disagree_slow = [], []
    n_invalid = 0
    for rec in records:
        found = [(f.code, f.path) for f in check_chat(rec)]
        schema_invalid = not validator.is_valid(rec)
        n_invalid += schema_invalid
        if any(code in SCHEMA_CODES for code, _ in found) != schema_invalid:
            disagree_schema.append((rec, found))
        if found != [(f.code, f.path) for f in check_chat(_padded(rec))]:
            disagree_slow.append((rec, found))
    assert disagree_schema == []
    assert disagree_slow == []
    assert 150 < n_invalid < 1350  # the corpus exercises both outcomes


# -- files ----------------------------------------------------------------------------------


def write_lines(path: Path, *rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_validate_file_counts_add_up_and_rejects_keep_every_invalid_line(tmp_path: Path) -> None:
    src = write_lines(
        tmp_path / "d.jsonl", msgs(U, A), "{bad json", "", msgs(U), [1], msgs(U, A, U)
    )
    report = validate_file(src, rejects=tmp_path / "rej.jsonl")
    assert report.records == 5 and report.valid == 2 and report.n_invalid == 3
    assert report.exit_code == 1
    assert [(i["line"], [e["code"] for e in i["errors"]]) for i in report.invalid] == [
        (2, ["json_decode"]),
        (4, ["no_assistant"]),
        (5, ["not_an_object"]),
    ]
    assert report.warnings == [
        {
            "line": 6,
            "source": str(src),
            "code": "last_not_assistant",
            "path": "/messages/2",
            "message": "last turn is 'user', not assistant",
        }
    ]
    assert report.stats["blank_lines"] == 1 and report.stats["blank_line_numbers"] == [3]
    rejects = [json.loads(x) for x in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (2, "json_decode"),
        (4, "no_assistant"),
        (5, "not_an_object"),
    ]
    assert rejects[0]["raw"] == "{bad json" and rejects[1]["record"] == msgs(U)


def test_token_stats_and_max_tokens(tmp_path: Path) -> None:
    rows = [msgs(U, {"role": "assistant", "content": "x" * (4 * k)}) for k in range(1, 101)]
    src = write_lines(tmp_path / "d.jsonl", *rows)
    report = validate_file(src, max_tokens=100)
    tok = report.stats["tokens"]
    base = TokenCounter().count_messages([U, {"role": "assistant", "content": ""}])
    assert tok["method"] == "estimate" and tok["exact"] is False and "estimate" in tok["note"]
    assert (tok["min"], tok["median"], tok["p95"], tok["max"]) == (
        base + 1,
        base + 50,
        base + 95,
        base + 100,
    )
    assert tok["over_max_tokens"] == base and report.exit_code == 0
    assert {w["code"] for w in report.warnings} == {"over_max_tokens"}
    assert len(report.warnings) == base


def test_exact_token_counts_with_a_local_tokenizer(tmp_path: Path, tiny_model_dir) -> None:
    src = write_lines(tmp_path / "d.jsonl", msgs(U, A), msgs(S, U, A))
    report = validate_file(src, tokenizer=str(tiny_model_dir))
    counter = TokenCounter(str(tiny_model_dir))
    expected = sorted([counter.count_messages([U, A]), counter.count_messages([S, U, A])])
    tok = report.stats["tokens"]
    assert tok["exact"] is True and tok["note"] is None
    assert (tok["min"], tok["max"]) == tuple(expected)
    with pytest.raises(ConfigError, match="cannot load a tokenizer"):
        validate_file(src, tokenizer=str(tmp_path))


def test_non_chat_input_is_converted_then_validated(tmp_path: Path) -> None:
    src = tmp_path / "sg.json"
    src.write_text(
        json.dumps(
            [
                {
                    "conversations": [
                        {"from": "human", "value": "Hi"},
                        {"from": "gpt", "value": "Yo"},
                    ]
                },
                {
                    "conversations": [
                        {"from": "human", "value": "Hi"},
                        {"from": "gpt", "value": " "},
                    ]
                },
                {"conversations": [{"from": "wizard", "value": "?"}]},
                {"text": "no shape at all"},
            ]
        )
    )
    report = validate_file(src, rejects=tmp_path / "rej.jsonl")
    assert report.format == "sharegpt" and report.stats["converted_from"] == "sharegpt"
    assert [(i["line"], i["errors"][0]["code"]) for i in report.invalid] == [
        (2, "empty_content"),
        (3, "conversion_error"),
        (4, "missing_messages"),
    ]
    rejects = [json.loads(x) for x in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert rejects[0]["record"]["conversations"][1]["value"] == " "  # as read, not converted
    assert report.invalid[0]["text_line"] == 1  # one-line array: element 2 starts on line 1


def test_user_schema_replaces_the_bundled_one(tmp_path: Path) -> None:
    schema = tmp_path / "s.json"
    schema.write_text(
        json.dumps(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "required": ["messages", "category"],
            }
        )
    )
    src = write_lines(
        tmp_path / "d.jsonl",
        {**msgs(U, A), "category": "qa"},
        msgs(U, A),
        {**msgs(U), "category": "qa"},
    )
    report = validate_file(src, schema=schema)
    assert [(i["line"], [(e["code"], e["path"]) for e in i["errors"]]) for i in report.invalid] == [
        (2, [("schema_violation", "")]),
        (3, [("no_assistant", "/messages")]),
    ]
    assert report.stats["schema"] == str(schema)
    v = Validator(schema=schema)
    assert [f.code for f in v.check({"messages": "x"})] == ["schema_violation"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "cannot read schema"),
        ("{not json", "not valid JSON"),
        ('{"type": 5}', "not a valid JSON Schema"),
    ],
)
def test_bad_user_schema_is_a_config_error(tmp_path: Path, content, match) -> None:
    schema = tmp_path / "s.json"
    if content is not None:
        schema.write_text(content)
    with pytest.raises(ConfigError, match=match):
        Validator(schema=schema)


def test_validator_step_drops_with_first_error_code() -> None:
    from curate.records import Record
    from curate.stage import collect

    records = [
        Record("f", 1, msgs(U, A)),
        Record("f", 2, msgs(U)),
        Record("f", 3, msgs({"role": "bot", "content": ""})),
    ]
    v = Validator()
    result = collect(v, records)
    assert [r.line for r in result.kept] == [1]
    assert [d.reason for d in result.dropped] == ["no_assistant", "unknown_role"]
    assert [e["code"] for e in result.dropped[1].extra["errors"]] == [
        "unknown_role",
        "no_assistant",
    ]
    assert v.stats()["errors_by_code"] == {"no_assistant": 2, "unknown_role": 1}
    assert isinstance(validate_record(msgs(U))[0], Finding)


def test_sample_data_findings_are_exactly_the_planted_ones() -> None:
    planted = json.loads((REPO / "sample_data" / "planted.json").read_text())
    by_kind = {p["kind"]: p["line"] for p in planted if "of_line" not in p}
    report = validate_file(REPO / "sample_data" / "sample.jsonl")
    got = {i["line"]: i["errors"][0]["code"] for i in report.invalid}
    assert got == {
        by_kind["bad_json"]: "json_decode",
        by_kind["no_assistant"]: "no_assistant",
        by_kind["empty_content"]: "empty_content",
        by_kind["unknown_role"]: "unknown_role",
    }
    assert report.stats["blank_line_numbers"] == [by_kind["blank_line"]]
    assert report.warnings == []
    assert report.records == report.valid + len(report.invalid) >= 280


def test_sample_data_is_regenerated_byte_identically(tmp_path: Path) -> None:
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, str(REPO / "sample_data" / "make_sample.py"), "--out-dir", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("sample.jsonl", "planted.json", "README.md"):
        assert (tmp_path / name).read_bytes() == (REPO / "sample_data" / name).read_bytes(), name


def test_reader_codes_become_invalid_records(tmp_path: Path) -> None:
    src = tmp_path / "d.jsonl"
    good = json.dumps(msgs(U, A)).encode()
    src.write_bytes(
        good
        + b"\n"
        + b'{"a": "\xff"}\n'
        + b'{"a": ' * 5000
        + b"1"
        + b"}" * 5000
        + b"\n"
        + b"[1]\n"
        + b"{oops\n"
        + good
    )
    report = validate_file(src)
    assert [(i["line"], i["errors"][0]["code"]) for i in report.invalid] == [
        (2, "invalid_utf8"),
        (3, "too_deep"),
        (4, "not_an_object"),
        (5, "json_decode"),
    ]
    assert report.valid == 2 and report.records == 6
