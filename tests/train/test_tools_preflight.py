"""Tool use and chat templates: pre-flight refuses a template that drops it; --tools-as-text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from transformers import AutoTokenizer

from curate.chat import tools_as_text
from curate.cli import main
from train.data import load_data
from train.demo_model import CHATML_TEMPLATE
from train.masking import IGNORE, ChatEncoder
from train.preflight import PreflightFailed, run_preflight, tool_render_problem

CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Lima"}'},
}
TOOL_ROW = {
    "messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is the weather in Lima?"},
        {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 19}'},
        {"role": "assistant", "content": "It is 19 degrees in Lima."},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ],
}
PLAIN_ROW = {
    "messages": [
        {"role": "user", "content": "Name the largest planet."},
        {"role": "assistant", "content": "Jupiter."},
    ]
}
# ChatML that renders tools and tool calls (as Qwen's templates do).
TOOL_TEMPLATE = (
    "{% if tools %}{{ '<|im_start|>system\n' }}{% for t in tools %}{{ t | tojson }}\n"
    "{% endfor %}{{ '<|im_end|>\n' }}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}{% generation %}"
    "{{ message['content'] if message['content'] is string else '' }}"
    "{% for c in message.get('tool_calls') or [] %}<tool_call>{{ c['function'] | tojson }}"
    "</tool_call>{% endfor %}{{ '<|im_end|>\n' }}{% endgeneration %}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer(memo_model_dir: Path) -> Any:
    tok = AutoTokenizer.from_pretrained(memo_model_dir)
    assert tok.chat_template == CHATML_TEMPLATE  # ignores tools and tool_calls
    return tok


def _split(tmp_path: Path, rows: list[dict]) -> Path:
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def test_tools_as_text_format() -> None:
    out = tools_as_text(TOOL_ROW)
    assert "tools" not in out
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    system = out["messages"][0]["content"]
    assert system.startswith("Answer briefly.\n\nYou may call functions.")
    assert '<tools>\n{"name":"get_weather","description":"Weather for a city"' in system
    assert out["messages"][2]["content"] == (
        '<tool_call>\n{"name":"get_weather","arguments":{"city":"Lima"}}\n</tool_call>'
    )
    assert out["messages"][3]["content"] == '<tool_response>\n{"temp": 19}\n</tool_response>'
    assert tools_as_text(PLAIN_ROW) is PLAIN_ROW
    # parallel calls: one assistant turn, the answers share one user turn
    two = {**CALL, "id": "call_2"}
    row = {
        "messages": [
            {"role": "user", "content": "Lima and Quito?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [CALL, two]},
            {"role": "tool", "tool_call_id": "call_1", "content": "19"},
            {"role": "tool", "tool_call_id": "call_2", "content": "14"},
            {"role": "assistant", "content": "19 and 14."},
        ]
    }
    msgs = tools_as_text(row)["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    assert msgs[1]["content"].startswith("Checking.\n<tool_call>")
    assert msgs[1]["content"].count("<tool_call>") == 2
    assert msgs[2]["content"].count("<tool_response>") == 2


def test_tools_as_text_keeps_arguments_it_cannot_read_exactly_as_their_string() -> None:
    # An integer beyond 64 bits would come back from a plain JSON parse as a float
    # (1.2345678901234568e+29): the training text would name another account.
    big = '{"account":123456789012345678901234567890}'
    row = {
        "messages": [
            {"role": "user", "content": "Balance?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"type": "function", "function": {"name": "bal", "arguments": big}}],
            },
        ]
    }
    text = tools_as_text(row)["messages"][1]["content"]
    assert json.loads(text.split("\n")[1])["arguments"] == big
    assert "e+29" not in text


def test_render_check_tells_templates_apart(tokenizer: Any, memo_model_dir: Path) -> None:
    lost = tool_render_problem(tokenizer, TOOL_ROW)
    assert lost == (
        "1 tool call(s) (get_weather) and 1 tool definition(s) missing from the rendered text"
    )
    assert tool_render_problem(tokenizer, PLAIN_ROW) is None
    assert tool_render_problem(tokenizer, tools_as_text(TOOL_ROW)) is None
    aware = AutoTokenizer.from_pretrained(memo_model_dir)
    aware.chat_template = TOOL_TEMPLATE
    assert tool_render_problem(aware, TOOL_ROW) is None


def test_preflight_refuses_under_every_policy_and_tools_as_text_trains_the_call(
    tmp_path: Path, tokenizer: Any
) -> None:
    data = load_data(_split(tmp_path, [PLAIN_ROW, TOOL_ROW, PLAIN_ROW]))
    enc = ChatEncoder(tokenizer, True, max_length=512)
    for policy in ("refuse", "drop", "truncate"):
        with pytest.raises(PreflightFailed) as info:
            run_preflight(data, enc, policy, template="chat template 'chatml'")
        assert [(d.record.line, d.reason) for d in info.value.problems] == [
            (2, "tools_not_rendered")
        ]
        assert info.value.headline.startswith(
            "chat template 'chatml' does not render tool calls / tool definitions: 1 row(s)"
        )
        assert "--tools-as-text" in info.value.headline
    pf = run_preflight(data, enc, "refuse", tools_as_text=True)
    assert len(pf.train.result.kept) == 3
    tool_enc = pf.train.encoded[1]
    text = tokenizer.decode(tool_enc.input_ids)
    assert "<tools>" in text and '"city":"Lima"' in text
    trained = tokenizer.decode([t for t in tool_enc.labels if t != IGNORE])
    assert '<tool_call>\n{"name":"get_weather","arguments":{"city":"Lima"}}' in trained


def test_cli_train_refuses_then_trains_with_tools_as_text(
    tmp_path: Path, memo_model_dir: Path
) -> None:
    split = _split(tmp_path, [PLAIN_ROW, TOOL_ROW] * 2)
    out = tmp_path / "out"
    args = ["train", str(split), "-o", str(out), "--model", str(memo_model_dir)]
    args += ["--no-quantize", "--max-steps", "2", "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output
    assert (
        f"pre-flight: the chat template of {memo_model_dir} does not render tool calls"
        in res.stderr
    )
    assert f"{split / 'train.jsonl'}:2: tools_not_rendered: 1 tool call(s)" in res.stderr
    assert not (out / "adapter_model.safetensors").exists()
    res = CliRunner().invoke(main, [*args, "--tools-as-text", "--json"])
    assert res.exit_code == 0, res.stderr
    metrics = json.loads(res.stdout)
    assert metrics["global_step"] == 2 and metrics["preflight"]["train"]["kept"] == 4
