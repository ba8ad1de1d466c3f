"""Field mapping: Self-Instruct- and MT-Bench-shaped files to chat, in YAML and as flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.convert import convert_file
from curate.errors import ConfigError
from curate.fieldmap import FieldMap, get_path, suggest_fields
from curate.formats import Converter
from curate.records import Record
from curate.stage import Dropped

SELF_INSTRUCT = [
    {
        "id": f"user_oriented_task_{i}",
        "motivation_app": "Gmail",
        "instruction": f"Write a short reply to email number {i}.",
        "instances": [{"input": f"Hi, can we meet on day {i}?", "output": f"Sure, day {i} works."}],
    }
    for i in range(6)
]
SI_FIELDS = {
    "prompt": "instruction",
    "input": "instances.0.input",
    "response": "instances.0.output",
}
MT_BENCH = [
    {
        "question_id": 81 + i,
        "category": "writing",
        "turns": [f"Compose a travel blog post number {i}.", f"Rewrite post {i} in one line."],
    }
    for i in range(4)
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_dotted_paths_with_list_indexes() -> None:
    rec = SELF_INSTRUCT[0]
    assert get_path(rec, "instances.0.output") == "Sure, day 0 works."
    assert get_path(rec, "instances.-1.input") == "Hi, can we meet on day 0?"
    missing = get_path(rec, "instances.1.input")
    assert missing is get_path(rec, "nope")  # the one "missing" sentinel


def test_self_instruct_shape_converts_with_metadata_kept() -> None:
    conv = Converter(fields=FieldMap.parse(SI_FIELDS))
    out = conv(Record("si.jsonl", 1, SELF_INSTRUCT[2]))
    assert not isinstance(out, Dropped)
    assert out.data == {
        "messages": [
            {"role": "user", "content": "Write a short reply to email number 2.\n\n"
             "Hi, can we meet on day 2?"},
            {"role": "assistant", "content": "Sure, day 2 works."},
        ],
        "id": "user_oriented_task_2",
        "motivation_app": "Gmail",
    }  # fmt: skip
    # a second instance cannot fit one chat turn: noted with the line, not dropped silently
    two = {**SELF_INSTRUCT[0], "instances": SELF_INSTRUCT[0]["instances"] * 2}
    assert conv(Record("si.jsonl", 2, two)).data["instances"] == two["instances"]  # kept
    assert conv.stats()["conversion_notes"] == {"unmapped_list_items": 1}
    assert conv.stats()["conversion_note_examples"] == {"unmapped_list_items": ["si.jsonl:2"]}
    # a record without the path is a conversion_error naming what is missing
    bad = conv(Record("si.jsonl", 3, {"instruction": "x", "instances": []}))
    assert isinstance(bad, Dropped) and bad.reason == "conversion_error"
    assert "instances has 0 item(s), no index 0" in bad.detail


def test_turns_with_role_and_content_keys_roles_and_system() -> None:
    fm = FieldMap.parse(
        {
            "turns": "dialogue",
            "role": "speaker",
            "content": "say.text",
            "system": "meta.system",
            "roles": {"customer": "user", "agent": "assistant"},
        }
    )
    rec = {
        "meta": {"system": "Be kind.", "ticket": 7},
        "dialogue": [
            {"speaker": "customer", "say": {"text": "My order is late."}},
            {"speaker": "agent", "say": {"text": "Sorry, it ships today."}},
        ],
    }
    out = Converter(fields=fm)(Record("d", 1, rec))
    assert out.data == {
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "My order is late."},
            {"role": "assistant", "content": "Sorry, it ships today."},
        ],
        "meta": {"system": "Be kind.", "ticket": 7},  # partly mapped: kept whole
    }
    rec["meta"] = {"system": "Be kind."}
    assert "meta" not in Converter(fields=fm)(Record("d", 1, rec)).data  # wholly mapped
    unknown_role = {"dialogue": [{"speaker": "robot", "say": {"text": "beep"}}]}
    dropped = Converter(fields=fm)(Record("d", 2, unknown_role))
    assert isinstance(dropped, Dropped) and "roles: {robot: " in dropped.detail


def test_mt_bench_turns_as_strings(tmp_path: Path) -> None:
    src = _write(tmp_path / "mt.jsonl", MT_BENCH)
    fm = FieldMap.parse({"turns": "turns", "turn_roles": ["user"]})
    report = convert_file(src, tmp_path / "out.jsonl", fields=fm)
    assert report["converted"] == 4 and report["format"] == "fields"
    first = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in first["messages"]] == ["user", "user"]
    assert first["question_id"] == 81 and "turns" not in first
    # with answers alongside: interleaved as assistant turns
    rows = [{**r, "answers": [f"Post {i}", f"Line {i}"]} for i, r in enumerate(MT_BENCH)]
    fm = FieldMap.parse({"turns": "turns", "turn_roles": "user", "responses": "answers"})
    out = Converter(fields=fm)(Record("mt", 1, rows[1]))
    assert [m["role"] for m in out.data["messages"]] == ["user", "assistant", "user", "assistant"]


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"prompt": "a", "turns": "b"}, "not both"),
        ({"response": "a"}, "needs prompt"),
        ({"promt": "a"}, "unknown key 'promt'"),
        ({"turns": "t", "turn_roles": ["robot"]}, "turn_roles"),
        ({"prompt": 3}, "dotted path"),
    ],
)
def test_bad_mappings_are_config_errors(raw, match) -> None:
    with pytest.raises(ConfigError, match=match):
        FieldMap.parse(raw)


def test_unknown_format_names_keys_and_the_mapping_that_fits() -> None:
    assert suggest_fields(SELF_INSTRUCT[0]) == SI_FIELDS
    assert suggest_fields(MT_BENCH[0]) == {"turns": "turns", "turn_roles": ["user", "assistant"]}
    chat_log = {"log": [{"speaker": "a", "text": "hi"}], "system_prompt": "s"}
    assert suggest_fields({**chat_log, "dialogue": chat_log["log"]}) == {
        "turns": "dialogue",
        "role": "speaker",
        "content": "text",
        "system": "system_prompt",
    }
    assert suggest_fields({"blob": 1}) is None
    dropped = Converter()(Record("si", 1, SELF_INSTRUCT[0]))
    assert isinstance(dropped, Dropped) and dropped.reason == "unknown_format"
    assert "keys: id, instances, instruction, motivation_app" in dropped.detail
    assert (
        "convert.fields: {prompt: instruction, input: instances.0.input, "
        "response: instances.0.output}" in dropped.detail
    )


def test_cli_convert_and_run_with_field_flags_and_yaml(tmp_path: Path) -> None:
    src = _write(tmp_path / "si.jsonl", SELF_INSTRUCT)
    runner = CliRunner()
    res = runner.invoke(main, ["convert", str(src), "-o", str(tmp_path / "no.jsonl")])
    assert res.exit_code == 1
    assert "--field prompt=instruction --field input=instances.0.input" in res.stderr
    flags = [f"--field={k}={v}" for k, v in SI_FIELDS.items()]
    out = tmp_path / "chat.jsonl"
    res = runner.invoke(main, ["convert", str(src), "-o", str(out), *flags])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["validate", str(out)])
    assert res.exit_code == 0, res.output

    res = runner.invoke(main, ["run", str(src), "-o", str(tmp_path / "r0"), "--no-semantic"])
    assert "run: records of unknown layout; a mapping that fits: convert.fields: " in res.stderr

    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "convert:\n  fields: {prompt: instruction, input: instances.0.input, "
        "response: instances.0.output}\n"
    )
    res = runner.invoke(
        main,
        ["run", str(src), "-o", str(tmp_path / "r1"), "--config", str(cfg), "--no-semantic"],
    )
    assert res.exit_code == 0, res.output
    via_flags = ["run", str(src), "-o", str(tmp_path / "r2"), "--no-semantic", *flags]
    res = runner.invoke(main, via_flags)
    assert res.exit_code == 0, res.output
    for name in ("train.jsonl", "test.jsonl"):
        assert (tmp_path / "r1" / name).read_bytes() == (tmp_path / "r2" / name).read_bytes()
    n = sum(
        len((tmp_path / "r1" / n).read_text().splitlines()) for n in ("train.jsonl", "test.jsonl")
    )
    assert n == len(SELF_INSTRUCT)

    cfg.write_text("convert:\n  fields: {response: output}\n")
    res = runner.invoke(main, ["run", str(src), "-o", str(tmp_path / "r3"), "--config", str(cfg)])
    assert res.exit_code == 2 and "needs prompt" in res.stderr
    assert not (tmp_path / "r3").exists()
