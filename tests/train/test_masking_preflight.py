"""Assistant-only masking, token by token, and pre-flight on over-long / no-assistant rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from transformers import AutoTokenizer

from curate.cli import main
from train.data import load_data
from train.demo_model import CHATML_TEMPLATE
from train.masking import IGNORE, ChatEncoder, RowProblem
from train.preflight import PreflightFailed, run_preflight

CONVERSATIONS = [
    [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is the capital of Peru?"},
        {"role": "assistant", "content": "Lima."},
        {"role": "user", "content": "And of Kenya?"},
        {"role": "assistant", "content": "Nairobi."},
    ],
    [
        {"role": "user", "content": "Name the largest planet."},
        {"role": "assistant", "content": [{"type": "text", "text": "Jupiter"}]},
    ],
]


@pytest.fixture(scope="module")
def tokenizer(memo_model_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(memo_model_dir)


def spans(ids: list[int], labels: list[int]) -> list[list[int]]:
    """Maximal runs of loss-bearing positions."""
    runs: list[list[int]] = []
    for i, lab in enumerate(labels):
        if lab == IGNORE:
            continue
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_assistant_only_mask_token_by_token(tokenizer: Any, conversation: list[dict]) -> None:
    enc = ChatEncoder(tokenizer, assistant_only_loss=True, max_length=512)
    assert enc.method == "generation_markers"
    out = enc.encode({"messages": conversation})
    ids, labels = out.input_ids, out.labels
    # Each label is either ignored or the token itself (causal LM shift happens in the model).
    assert all(lab in (IGNORE, tok) for tok, lab in zip(ids, labels, strict=True))
    answers = [m for m in conversation if m["role"] == "assistant"]
    runs = spans(ids, labels)
    assert len(runs) == len(answers)
    im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    for run, msg in zip(runs, answers, strict=True):
        text = msg["content"] if isinstance(msg["content"], str) else msg["content"][0]["text"]
        # Exactly the answer plus the end-of-turn token (so the model learns to stop) ...
        assert tokenizer.decode([ids[i] for i in run]) == f"{text}<|im_end|>\n"
        # ... preceded by the assistant header, which carries no loss.
        header = ids[: run[0]]
        last_start = len(header) - 1 - header[::-1].index(im_start)
        assert tokenizer.decode(header[last_start:]) == "<|im_start|>assistant\n"
    masked = [i for i, lab in enumerate(labels) if lab == IGNORE]
    assert tokenizer.decode([ids[i] for i in masked]).count("<|im_start|>") == len(conversation)
    assert out.n_loss == sum(len(r) for r in runs)


def test_prefix_diff_fallback_matches_generation_markers(memo_model_dir: Path) -> None:
    """A template without {% generation %} gets the same mask from our own prefix masking."""
    marked = AutoTokenizer.from_pretrained(memo_model_dir)
    plain = AutoTokenizer.from_pretrained(memo_model_dir)
    plain.chat_template = CHATML_TEMPLATE.replace("{% generation %}", "").replace(
        "{% endgeneration %}", ""
    )
    a = ChatEncoder(marked, True, 512)
    b = ChatEncoder(plain, True, 512)
    assert b.method == "prefix_diff"
    for conversation in CONVERSATIONS:
        ea, eb = a.encode({"messages": conversation}), b.encode({"messages": conversation})
        assert ea.input_ids == eb.input_ids and ea.labels == eb.labels


def test_all_tokens_loss_and_row_problems(tokenizer: Any) -> None:
    out = ChatEncoder(tokenizer, assistant_only_loss=False).encode({"messages": CONVERSATIONS[1]})
    assert out.labels == out.input_ids
    enc = ChatEncoder(tokenizer)
    for record, code in [
        ({"messages": [{"role": "user", "content": "hi"}]}, "no_assistant"),
        ({"instruction": "hi"}, "not_chat"),
        ({"messages": []}, "not_chat"),
    ]:
        with pytest.raises(RowProblem) as info:
            enc.encode(record)
        assert info.value.reason == code


def _bad_split(tmp_path: Path, memo_rows: list[dict]) -> Path:
    long = " ".join(["the capital of France is Paris"] * 60)
    rows = [
        *memo_rows[:3],
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": long}]},
        {"messages": [{"role": "user", "content": "Only a question?"}]},
        *memo_rows[3:6],
    ]
    lines = [json.dumps(r) for r in rows] + ["{not json"]
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "val.jsonl").write_text(json.dumps(memo_rows[0]) + "\n")
    return tmp_path


def test_preflight_refuses_over_length_and_no_assistant_rows(
    tmp_path: Path, tokenizer: Any, memo_rows: list[dict]
) -> None:
    data = load_data(_bad_split(tmp_path, memo_rows))
    enc = ChatEncoder(tokenizer, True, max_length=64)
    with pytest.raises(PreflightFailed) as info:
        run_preflight(data, enc, "refuse")
    found = {(d.record.line, d.reason) for d in info.value.problems}
    assert found == {(4, "truncated"), (5, "no_assistant"), (9, "json_decode")}


def test_preflight_drop_and_truncate_policies(
    tmp_path: Path, tokenizer: Any, memo_rows: list[dict]
) -> None:
    data = load_data(_bad_split(tmp_path, memo_rows))
    enc = ChatEncoder(tokenizer, True, max_length=64)
    dropped = run_preflight(data, enc, "drop")
    train = dropped.train.result
    assert train.n_in == 9 and len(train.kept) == 6  # every line accounted for
    assert sorted(train.reasons().items()) == [
        ("json_decode", 1),
        ("no_assistant", 1),
        ("truncated", 1),
    ]
    assert dropped.budget["tokens_per_epoch"] == sum(
        len(e.input_ids) for e in dropped.train.encoded
    )
    assert any("fewer than 100" in w for w in dropped.warnings)
    kept = run_preflight(data, enc, "truncate")
    assert len(kept.train.result.kept) == 7
    assert max(len(e.input_ids) for e in kept.train.encoded) == 64
    assert kept.as_dict()["train"]["truncated_kept"] == 1


def test_preflight_flags_rows_whose_answer_is_cut_entirely(tokenizer: Any, tmp_path: Path) -> None:
    long_question = " ".join(["What is the speed of light"] * 40)
    row = {
        "messages": [
            {"role": "user", "content": long_question},
            {"role": "assistant", "content": "c"},
        ]
    }
    (tmp_path / "one.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(PreflightFailed) as info:
        run_preflight(load_data(tmp_path / "one.jsonl"), ChatEncoder(tokenizer, True, 32))
    assert [d.reason for d in info.value.problems] == ["no_loss_tokens"]


def test_cli_preflight_refusal_exits_1_with_the_list_before_loading_the_model(
    tmp_path: Path, memo_model_dir: Path, memo_rows: list[dict]
) -> None:
    (tmp_path / "split").mkdir()
    split = _bad_split(tmp_path / "split", memo_rows)
    out = tmp_path / "out"
    args = [
        "train",
        str(split),
        "-o",
        str(out),
        "--model",
        str(memo_model_dir),
        "--max-length",
        "64",
    ]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 1
    assert f"{split / 'train.jsonl'}:4: truncated:" in result.stderr
    assert f"{split / 'train.jsonl'}:5: no_assistant:" in result.stderr
    assert json.loads(result.stdout)["preflight"]["train"]["rows"] == 9
    rejects = [json.loads(x) for x in (out / "preflight_rejects.jsonl").read_text().splitlines()]
    assert sorted(r["line"] for r in rejects) == [4, 5, 9]
    assert not (out / "adapter_model.safetensors").exists()


def test_data_roles_val_for_eval_test_never_read(
    tmp_path: Path, memo_split: Path, memo_rows: list[dict]
) -> None:
    import datasets

    split = load_data(memo_split)
    assert len(split.train) == 12 and split.eval is not None and len(split.eval) == 4
    assert split.eval_role == "val" and split.eval_source.endswith("val.jsonl")
    assert split.held_out == [str(memo_split / "test.jsonl")]
    roles = "\n".join(split.roles())
    assert "eval loss: " in roles and "held out, not read: " in roles
    # the single-file form: 12 rows are too few to carve an eval slice from
    single = load_data(memo_split / "train.jsonl")
    assert single.eval is None and len(single.train) == 12
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(memo_rows[:5]),
            "validation": datasets.Dataset.from_list(memo_rows[5:7]),
            "test": datasets.Dataset.from_list(memo_rows[7:9]),
        }
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    hf = load_data(tmp_path / "dd")
    assert len(hf.train) == 5 and hf.eval is not None and len(hf.eval) == 2
    assert hf.train[0].data["messages"] == memo_rows[0]["messages"]
    assert hf.eval_role == "val" and hf.held_out == [f"{tmp_path / 'dd'}[test]"]


def test_eval_slice_is_carved_from_train_when_there_is_no_val(tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(100)
    ]
    folder = tmp_path / "split"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "test.jsonl").write_text('{"messages": "never read"\n')
    data = load_data(folder, seed=3)
    assert data.eval_role == "carved" and len(data.eval) == 5 and len(data.train) == 95
    lines = sorted(r.line for r in data.train + data.eval)
    assert lines == list(range(1, 101))  # every row in exactly one role, none from test
    assert {r.line for r in data.train}.isdisjoint(r.line for r in data.eval)
    again = load_data(folder, seed=3)
    assert [r.line for r in again.eval] == [r.line for r in data.eval]  # seeded


def test_manifest_mismatch_is_reported(tmp_path: Path, memo_rows: list[dict]) -> None:
    import hashlib

    folder = tmp_path / "run"
    folder.mkdir()
    train = folder / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in memo_rows))
    digest = hashlib.sha256(train.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps({"sha256": {"train.jsonl": digest}}))
    assert load_data(folder).notes == []
    with train.open("a") as fh:
        fh.write(json.dumps(memo_rows[0]) + "\n")
    assert "train.jsonl changed since `curate run` wrote it" in load_data(folder).notes[0]


def test_chat_template_override_for_a_tokenizer_without_one(
    tmp_path: Path, memo_model_dir: Path
) -> None:
    import shutil

    from curate.errors import ConfigError
    from train.config import load_config
    from train.model import load_tokenizer

    bare = tmp_path / "bare"
    shutil.copytree(memo_model_dir, bare)
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    tok_cfg = json.loads((bare / "tokenizer_config.json").read_text())
    tok_cfg.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    with pytest.raises(ConfigError, match="has no chat template; pass --chat-template"):
        load_tokenizer(load_config(None, {"model.name_or_path": str(bare)}))
    tpl = tmp_path / "t.jinja"
    tpl.write_text(
        CHATML_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    )
    for value, method in [("chatml", "generation_markers"), (str(tpl), "prefix_diff")]:
        cfg = load_config(None, {"model.name_or_path": str(bare), "model.chat_template": value})
        assert ChatEncoder(load_tokenizer(cfg)).method == method
    with pytest.raises(ConfigError, match="not a file, not an inline Jinja template"):
        load_tokenizer(
            load_config(None, {"model.name_or_path": str(bare), "model.chat_template": "x"})
        )
